"""The two spiking targets: `snn-brian2` (the reference simulator) and `snn-fast`.

Both compile the same way — ONNX → normalised spiking network, written as `.snn.npz`
plus a `.nir` file — and differ only in the simulator `load` puts behind the runner.
Calibration data for normalisation comes from the artifact's metadata
(`calibration_data`: an .npz holding `x`), which the pipeline sets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from edgenn.core import (
    Artifact,
    BadInputError,
    EdgeNNError,
    RunOptions,
    TensorSpec,
    parse_enum,
)
from edgenn.core.calibration import (
    Calibration,
    measure_ranges,
    ranges_dir_for,
    read_ranges,
)

from .coding import Coding, SimulationResult, Simulator, prepare_drive
from .convert import ConversionConfig, convert_onnx
from .hardware import (
    PROFILES,
    TABLE_BITS,
    HardwareProfile,
    accuracy_by_bits,
    fan_in,
    quantize_weights,
)
from .ir import NeuronKind, NeuronModel, Reset, SpikingNetwork, load_network, save_network
from .metrics import (
    EnergyModel,
    activity,
    energy_estimates,
    synaptic_operations,
    timestep_analysis,
)
from .trace import check_supported

log = logging.getLogger(__name__)

# where each population's threshold (full scale λ) comes from: the build's calibration
# table, shared with static int8, or the converter's own percentile of activations
THRESHOLDS = ("calibration", "percentile")


def read_calibration(artifact: Artifact) -> np.ndarray:
    """The calibration inputs named by `artifact.metadata["calibration_data"]`."""
    path = artifact.metadata.get("calibration_data")
    if not path:
        raise BadInputError("snn conversion needs calibration data: set the artifact's "
                            "metadata 'calibration_data' to an .npz holding array 'x' "
                            "(the pipeline stores the training split there)")
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"calibration data not found: {path}")
    with np.load(path, allow_pickle=False) as archive:
        if "x" not in archive.files:
            raise BadInputError(f"{path}: no array 'x' (found: {', '.join(archive.files)})")
        return archive["x"].astype(np.float32)


def simulate(network: SpikingNetwork, x: np.ndarray, timesteps: int,
             simulator: Simulator = Simulator.FAST, coding: Coding = Coding.CONSTANT,
             seed: int = 0, threads: int = 2, samples_per_network: int = 64,
             record: bool = False, codegen: str = "auto") -> SimulationResult:
    """Simulate `x` (N, *input_shape) for `timesteps` with the chosen simulator
    (`record`: the fast simulator also counts what the cost metrics need; `codegen`:
    brian2's code generation, auto = compiled Cython when it works, else numpy)."""
    drive = prepare_drive(network, x, timesteps, coding, seed)
    if simulator is Simulator.BRIAN2:
        from .brian2_sim import simulate_brian2

        return simulate_brian2(network, drive, samples_per_network, codegen=codegen)
    from .fast import simulate_fast

    return simulate_fast(network, drive, threads, record=record)


class SnnRunner:
    """Class scores are output spike counts (ties broken by membrane potential)."""

    comparable_outputs = False

    def __init__(self, network: SpikingNetwork, simulator: Simulator, timesteps: int,
                 coding: Coding, seed: int, threads: int, evaluation_timesteps: int,
                 samples_per_network: int, energy: EnergyModel, codegen: str = "auto"
                 ) -> None:
        self.network, self.simulator, self.timesteps = network, simulator, timesteps
        self.coding, self.seed, self.threads = coding, seed, threads
        self.evaluation_timesteps = evaluation_timesteps
        self.samples_per_network = samples_per_network
        self.energy = energy
        self.codegen = codegen
        self.max_latency_runs = 3 if simulator is Simulator.BRIAN2 else 20
        self.last: SimulationResult | None = None
        self._last_batch: np.ndarray | None = None
        self._last_steps: int | None = None

    def simulate(self, batch: np.ndarray, timesteps: int | None = None) -> SimulationResult:
        steps = timesteps or self.timesteps
        self.last = simulate(self.network, batch, steps, self.simulator,
                             self.coding, self.seed, self.threads, self.samples_per_network,
                             codegen=self.codegen)
        self._last_batch, self._last_steps = batch, steps
        return self.last

    def _simulate_for_evaluation(self, batch: np.ndarray, steps: int) -> SimulationResult:
        """The harness runs the test split, then evaluates the same split: simulate it once.
        (Only evaluation reuses a result; every `run()` simulates, so latency is real.)"""
        if self.last is not None and self._last_batch is batch and self._last_steps == steps:
            return self.last
        return self.simulate(batch, steps)

    def run(self, batch: np.ndarray) -> np.ndarray:
        return self.simulate(batch).scores().astype(np.float32)

    def metrics(self) -> dict[str, Any]:
        return {"simulator": self.simulator.value, "timesteps": self.timesteps,
                "coding": self.coding.value}

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """Accuracy against timesteps, settling, NeuroBench costs, sparsity, energy. The
        costs come from a recorded fast run at the configured T (spike-identical to
        brian2's, which the tests check)."""
        steps = max(self.timesteps, self.evaluation_timesteps)
        result = self._simulate_for_evaluation(x, steps)
        report = {"simulator": self.simulator.value, "coding": self.coding.value,
                  "timesteps": self.timesteps, "neuron": self.network.neuron.to_json(),
                  "thresholds": self.network.metadata.get("thresholds"),
                  **timestep_analysis(result, y)}
        recorded = simulate(self.network, x, self.timesteps, Simulator.FAST, self.coding,
                            self.seed, self.threads, record=True)
        ops = synaptic_operations(self.network, recorded, x, self.coding)
        report.update(ops)
        report.update(activity(self.network, recorded))
        spent = ops["effective_acs"] + ops["effective_macs"]
        report["synops_per_dense_mac"] = (spent / ops["ann_dense_macs"]
                                          if ops["ann_dense_macs"] else None)
        report["energy"] = energy_estimates(self.network, ops, self.timesteps, self.energy,
                                            report.get("membrane_updates"))
        report.update(self._hardware(x, y, recorded, result, steps))
        return report

    def _full_precision(self) -> SpikingNetwork | None:
        """The network before weight quantisation (itself when unquantised); None when a
        quantised network's full-precision file is gone."""
        if not self.network.metadata.get("weight_bits"):
            return self.network
        path = self.network.metadata.get("hardware", {}).get("full_precision_network")
        return load_network(path) if path and Path(path).is_file() else None

    def _hardware(self, x: np.ndarray, y: np.ndarray, recorded: SimulationResult,
                  result: SimulationResult, steps: int) -> dict[str, Any]:
        """Fan-in; the accuracy N-bit weights cost against full precision at T (this
        row's run at T is `recorded`); accuracy over (weight bits × timesteps), this row's
        network among the rows (its run to `steps` is `result`)."""
        report: dict[str, Any] = {
            "fan_in": self.network.metadata.get("hardware", {}).get("fan_in")}
        own = self.network.metadata.get("weight_bits")
        full = self._full_precision()
        if full is None:
            report["bits_by_timesteps"] = None
            return report
        known = {own or None: result}
        if own:
            theirs = simulate(full, x, self.timesteps, Simulator.FAST, self.coding,
                              self.seed, self.threads)
            known[None] = theirs
            quantised = float(np.mean(recorded.scores().argmax(1) == y))
            reference = float(np.mean(theirs.scores().argmax(1) == y))
            report["weight_quantization"] = {
                "weight_bits": int(own), "timesteps": self.timesteps,
                "accuracy": quantised, "accuracy_full_precision": reference,
                "cost_pp": round(100 * (reference - quantised), 4)}
        table = accuracy_by_bits(full, x, y, steps, self.coding, self.seed, self.threads,
                                 bits=tuple({*TABLE_BITS, *([own] if own else [])}),
                                 known=known)
        report["bits_by_timesteps"] = {**table, "this_row": own or None}
        return report


def _check_operators(path: Path) -> None:
    """One UnsupportedOperatorError listing every node the converter cannot take."""
    import onnx

    if not Path(path).is_file():
        raise BadInputError(f"ONNX model not found: {path}")
    check_supported(onnx.load(str(path), load_external_data=False))


def _calibration(artifact: Artifact) -> Calibration:
    """The settings the build's static int8 measured its ranges with (the pipeline puts
    them in `calibration_settings`; by default ONNX Runtime's minmax on the pre-processed
    model, as the default int8 candidates)."""
    return Calibration(**(artifact.metadata.get("calibration_settings") or {}))


class _SnnTarget:
    accepts = ("onnx", "snn")
    simulator: Simulator
    default_evaluation_timesteps = 0

    def __init__(self, timesteps: int = 64, coding: str | Coding = Coding.CONSTANT,
                 percentile: float = 99.9, evaluation_timesteps: int | None = None,
                 samples_per_network: int = 64, neuron: str | NeuronKind = NeuronKind.IF,
                 reset: str | Reset = Reset.SUBTRACT, tau: float = 16.0,
                 profile: str | None = None, weight_bits: int | None = None,
                 fan_in_limit: int | None = None, codegen: str = "auto",
                 thresholds: str = "calibration") -> None:
        if timesteps < 1:
            raise BadInputError(f"timesteps must be ≥ 1, got {timesteps}")
        self.coding = parse_enum(Coding, coding, "coding")
        if samples_per_network < 1:
            raise BadInputError(f"samples_per_network must be ≥ 1, got {samples_per_network}")
        if profile is not None and profile not in PROFILES:
            raise BadInputError(f"profile {profile!r} is not one of: {', '.join(PROFILES)}")
        base = PROFILES[profile] if profile else HardwareProfile()
        self.hardware = HardwareProfile(
            weight_bits=base.weight_bits if weight_bits is None else int(weight_bits),
            fan_in_limit=base.fan_in_limit if fan_in_limit is None else int(fan_in_limit))
        self.timesteps = timesteps
        model = NeuronModel(parse_enum(NeuronKind, neuron, "neuron"),
                            parse_enum(Reset, reset, "reset"), float(tau))
        self.conversion = ConversionConfig(percentile=percentile, neuron=model)
        self.evaluation_timesteps = (self.default_evaluation_timesteps
                                     if evaluation_timesteps is None else evaluation_timesteps)
        self.samples_per_network = samples_per_network
        if codegen not in ("auto", "cython", "numpy"):
            raise BadInputError(f"codegen {codegen!r} is not one of: auto, cython, numpy")
        self.codegen = codegen
        if thresholds not in THRESHOLDS:
            raise BadInputError(f"thresholds {thresholds!r} is not one of: "
                                f"{', '.join(THRESHOLDS)}")
        self.thresholds = thresholds

    def available(self) -> str | None:
        missing = []
        for module in ("onnx", "torch", "nir"):
            try:
                __import__(module)
            except ImportError:
                missing.append(module)
        return f"missing {', '.join(missing)} ({self.install_hint})" if missing else None

    def select(self, artifacts: Sequence[Artifact]) -> list[Artifact]:
        # float models only (pruned ones included): conversion re-quantises on its own grid
        return [a for a in artifacts if a.format == "onnx"
                and not any(tag in a.variant for tag in ("int8", "fp16"))]

    def compile(self, artifact: Artifact, workdir: Path) -> Artifact:
        from .nir_io import write_nir

        if artifact.format == "snn":
            return artifact
        if artifact.format != "onnx":
            raise BadInputError(f"{self.name} target takes ONNX, got {artifact.format}")
        if len(artifact.inputs) > 1:
            raise BadInputError(f"{self.name}: a spiking network has one input population; "
                                f"this model takes {len(artifact.inputs)} inputs")
        calibration = read_calibration(artifact)
        _check_operators(artifact.path)  # typed errors before any calibration
        table, fallback = self._table(artifact, calibration)
        network = convert_onnx(artifact.path, calibration, self.conversion,
                               read_ranges(table) if table else None)
        if table is not None:
            network.metadata["thresholds"].update(table=table.name,
                                                  method=_calibration(artifact).method.value)
        elif fallback:
            network.metadata["thresholds"]["instead_of_calibration"] = fallback
        workdir = Path(workdir)
        network = self._constrain(network, workdir / f"{artifact.path.stem}.fp.snn.npz")
        out = save_network(network, workdir / f"{artifact.path.stem}.snn.npz")
        nir_path = write_nir(network, workdir / f"{artifact.path.stem}.nir")
        classes = network.output.size
        return artifact.derive(out, f"compile:{self.name}", format="snn", extra_files=(nir_path,),
                               outputs=(TensorSpec("spike_scores", ("batch", classes)),),
                               nir=str(nir_path), timesteps=self.timesteps,
                               coding=self.coding.value, percentile=self.conversion.percentile,
                               thresholds=network.metadata["thresholds"],
                               neuron=network.neuron.to_json(),
                               weight_bits=self.hardware.weight_bits)

    def _table(self, artifact: Artifact, calibration: np.ndarray
               ) -> tuple[Path | None, str | None]:
        """The build's calibration table for this model — the one static int8 quantizes
        with: the same samples and settings — or None for
        percentile thresholds, with the reason when the table was asked for."""
        if self.thresholds == "percentile":
            return None, None
        try:
            table = measure_ranges(artifact.path, calibration, _calibration(artifact),
                                   ranges_dir_for(artifact.metadata["calibration_data"]))
        except EdgeNNError:
            raise
        except Exception as exc:  # ONNX Runtime's pre-processing or calibrator
            reason = f"calibration failed: {type(exc).__name__}: {str(exc).splitlines()[0]}"
        else:
            if table is not None:
                return table, None
            reason = "this onnxruntime has no calibration cache"
        log.warning("%s: %s; thresholds from the %g percentile of activations instead",
                    self.name, reason, self.conversion.percentile)
        return None, reason

    def _constrain(self, network: SpikingNetwork, full_path: Path) -> SpikingNetwork:
        """Quantise the weights and check the fan-in as the hardware profile asks; the
        full-precision network is kept beside it for the accuracy cost."""
        hardware: dict[str, Any] = {}
        bits = self.hardware.weight_bits
        if bits is not None:
            save_network(network, full_path)
            network = quantize_weights(network, bits)
            hardware["full_precision_network"] = str(full_path)
        hardware["fan_in"] = fan_in(network, self.hardware.fan_in_limit)
        if hardware["fan_in"]["within_limit"] is False:
            log.warning("%s: %d neurons have more than %d incoming synapses (largest %d)",
                        self.name, hardware["fan_in"]["neurons_over_limit"],
                        self.hardware.fan_in_limit, hardware["fan_in"]["max"])
        return replace(network, metadata={**network.metadata, "hardware": hardware})

    def load(self, artifact: Artifact, options: RunOptions) -> SnnRunner:
        if artifact.format != "snn":
            raise BadInputError(f"{self.name} loads compiled .snn.npz artifacts, got "
                                f"{artifact.format} (compile it first)")
        network = load_network(artifact.path)
        return SnnRunner(network, self.simulator, self.timesteps, self.coding, options.seed,
                         options.threads, self.evaluation_timesteps, self.samples_per_network,
                         EnergyModel(), self.codegen)


class FastSnnTarget(_SnnTarget):
    name = "snn-fast"
    simulator = Simulator.FAST
    description = "spiking network (IF, rate coded), vectorised time-stepped simulator"
    install_hint = 'pip install "edgenn[snn]"'
    default_evaluation_timesteps = 128  # accuracy up to T = 128 costs little here


class Brian2SnnTarget(_SnnTarget):
    name = "snn-brian2"
    simulator = Simulator.BRIAN2
    description = "spiking network (IF, rate coded), brian2 reference simulator"
    install_hint = 'pip install "edgenn[snn]" "numpy<2.4"'

    def select(self, artifacts: Sequence[Artifact]) -> list[Artifact]:
        # The reference simulator is slow: by default it runs the fp32 model only
        # (snn-fast runs the pruned one too; `edgenn simulate` takes any float ONNX).
        return [a for a in super().select(artifacts) if a.variant == "fp32"]

    def available(self) -> str | None:
        from edgenn.core import TargetUnavailableError

        from .brian2_sim import import_brian2

        try:
            import_brian2()
        except TargetUnavailableError as exc:
            return str(exc)
        return super().available()
