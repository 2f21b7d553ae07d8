"""The one energy model: energy per operation and per byte moved (45 nm, Horowitz ISSCC
2014), and the estimate for an artificial network from its operation counts.

Energy is an estimate, never a measurement: operations × energy per operation plus memory
traffic × energy per byte. The spiking target uses the same constants for its rows, so an
ANN row and an SNN row of one report are estimated alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EnergyModel:
    """Energy per operation and per byte moved, in picojoules (override any field)."""

    fp32_add_pj: float = 0.9
    fp32_mult_pj: float = 3.7
    fp16_add_pj: float = 0.4
    fp16_mult_pj: float = 1.1
    int8_add_pj: float = 0.03
    int8_mult_pj: float = 0.2
    sram_pj_per_byte: float = 1.25  # 8 kB SRAM, 64-bit access ≈ 10 pJ
    source: str = "Horowitz, ISSCC 2014 (45 nm); memory: 8 kB SRAM 64-bit access 10 pJ"

    def mac_pj(self, precision: str) -> float:
        """Energy of one multiply-accumulate at `precision` (fp32, fp16 or int8)."""
        return {"fp32": self.fp32_add_pj + self.fp32_mult_pj,
                "fp16": self.fp16_add_pj + self.fp16_mult_pj,
                "int8": self.int8_add_pj + self.int8_mult_pj}[precision]

    def snn_pj(self, acs: float, macs: float, updates: float) -> float:
        """Energy of spiking work: effective ACs and membrane updates as fp32 adds,
        effective MACs as fp32 MACs; each operation reads its 4-byte weight, each membrane
        update reads and writes an 8-byte state."""
        return ((acs + updates) * self.fp32_add_pj + macs * self.mac_pj("fp32")
                + (4 * (acs + macs) + 16 * updates) * self.sram_pj_per_byte)


BYTES_PER_VALUE = {"fp32": 4, "fp16": 2, "int8": 1}


def precision_of(variant: str) -> str:
    """The arithmetic a variant computes in: int8 (static, dynamic, pruned-int8), fp16, or
    fp32 for everything else."""
    name = variant.lower()
    if "int8" in name or name in ("dynamic", "int8"):
        return "int8"
    if "fp16" in name:
        return "fp16"
    return "fp32"


def ann_energy_uj(counts: Mapping[str, float], precision: str,
                  model: EnergyModel = EnergyModel()) -> float:
    """Estimated energy of one inference (µJ) of a network with `counts` = {"macs",
    "weights", "activations"} (per sample): every MAC at `precision`, every weight read
    once, every activation written and read once, at that precision's width."""
    width = BYTES_PER_VALUE[precision]
    traffic = (counts["weights"] + 2 * counts["activations"]) * width
    return (counts["macs"] * model.mac_pj(precision)
            + traffic * model.sram_pj_per_byte) * 1e-6


def energy_basis(counts: Mapping[str, Any], precision: str) -> str:
    """One line saying what the estimate counted."""
    return (f"estimate (45 nm): {counts['macs'] / 1e6:.3g} M MACs at {precision} + "
            f"{counts['weights'] / 1e3:.3g} k weights and {counts['activations'] / 1e3:.3g} k "
            "activations moved through SRAM")
