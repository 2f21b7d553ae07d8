"""Spiking neuromorphic target: ONNX → integrate-and-fire network, two simulators.

`convert` builds the network (ir), `fast` and `brian2_sim` simulate it identically,
`metrics` counts NeuroBench's costs and estimates energy, `hardware` quantises weights
and checks fan-in, `nir_io`/`nir_read` write and read NIR, and `target` exposes
`snn-fast` and `snn-brian2`. Heavy toolchains load inside functions.
"""

from .coding import Coding, Simulator
from .convert import ConversionConfig, convert_onnx
from .hardware import HardwareProfile, fan_in, quantize_weights
from .ir import NeuronKind, NeuronModel, Reset, SpikingNetwork, load_network, save_network
from .metrics import EnergyModel
from .target import Brian2SnnTarget, FastSnnTarget, simulate

__all__ = ["Brian2SnnTarget", "Coding", "ConversionConfig", "EnergyModel", "FastSnnTarget",
           "HardwareProfile", "NeuronKind", "NeuronModel", "Reset", "Simulator",
           "SpikingNetwork", "convert_onnx", "fan_in", "load_network", "quantize_weights",
           "save_network", "simulate"]
