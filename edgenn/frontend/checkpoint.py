"""Checkpoints: a trained model's weights plus what is needed to rebuild it.

`ModelConfig` names the model (a zoo name or `file.py:factory`) and the data shape it was
built for; `save_checkpoint` writes both with the weights, atomically, and
`load_checkpoint` rebuilds the model from them. (`edgenn.frontend.train` re-exports all
three, where older code imports them from.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgenn.core import BadInputError, atomic_path


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model: zoo name (or file.py:factory) and shapes."""

    name: str
    input_shape: tuple[int, ...]
    num_classes: int
    options: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return cls(str(data["name"]), tuple(data["input_shape"]), int(data["num_classes"]),
                   dict(data.get("options", {})))

    def build(self):
        from edgenn.frontend.zoo import build_model

        return build_model(self.name, self.input_shape, self.num_classes, **self.options)


def save_checkpoint(path: Path, model, config: ModelConfig, extra: dict[str, Any] | None = None
                    ) -> Path:
    """Weights plus the model's config (so it can be rebuilt), written atomically."""
    import torch

    payload = {"format": "edgenn-checkpoint/1", "model": config.to_dict(),
               "state_dict": model.state_dict(), "extra": extra or {}}
    with atomic_path(path) as tmp:
        # Through a file object: torch names the zip's top folder after a path it is
        # given (here the temporary name), which would make every checkpoint differ.
        with open(tmp, "wb") as handle:
            torch.save(payload, handle)
    return path


def check_data_fits(config: ModelConfig, data, path: str | Path, data_name: str) -> None:
    """Refuse data the checkpoint's model was not built for (sample shape, labels beyond its
    classes) before any work — the alternative is PyTorch's shape error mid-way."""
    shape = tuple(data.sample_shape) if not isinstance(data.sample_shape, dict) else None
    if shape != tuple(config.input_shape):
        raise BadInputError(f"{path} was built for samples of shape "
                            f"{tuple(config.input_shape)}; {data_name} has samples of shape "
                            f"{data.sample_shape}")
    classes = max(config.num_classes, 2)  # one logit: a binary task
    if data.labelled and data.num_classes > classes:
        raise BadInputError(f"{data_name} has labels up to {data.num_classes - 1} but {path} "
                            f"predicts {config.num_classes} class(es)")


def load_checkpoint(path: str | Path):
    """Rebuild the model from a checkpoint; returns (model in eval mode, ModelConfig, extra)."""
    from edgenn.frontend.weights import safe_load

    payload = safe_load(path, "edgenn checkpoint", "an")
    if not isinstance(payload, dict) or payload.get("format") != "edgenn-checkpoint/1":
        raise BadInputError(f"{path}: not an edgenn checkpoint")
    try:
        config = ModelConfig.from_dict(payload["model"])
        state = payload["state_dict"]
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInputError(f"{path}: an edgenn checkpoint without its model config or "
                            f"weights ({type(exc).__name__}: {exc}); it was not written by "
                            "this edgenn") from None
    model = config.build()
    from edgenn.frontend.weights import fit_state_dict

    model.load_state_dict(fit_state_dict(model, state, path), strict=True)
    model.eval()
    return model, config, payload.get("extra", {})
