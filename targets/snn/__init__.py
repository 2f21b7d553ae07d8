"""Spiking neuromorphic target: ONNX → integrate-and-fire network, two simulators.

`convert` builds the network (ir), `fast` and `brian2_sim` simulate it identically,
`metrics` counts synaptic operations and estimates energy, `nir_io` writes NIR, and
`target` exposes `snn-fast` and `snn-brian2`. Heavy toolchains load inside functions.
"""

from .coding import Coding, Simulator
from .convert import ConversionConfig, convert_onnx
from .ir import SpikingNetwork, load_network, save_network
from .metrics import EnergyModel
from .target import Brian2SnnTarget, FastSnnTarget, simulate

__all__ = ["Brian2SnnTarget", "Coding", "ConversionConfig", "EnergyModel", "FastSnnTarget",
           "Simulator", "SpikingNetwork", "convert_onnx", "load_network", "save_network",
           "simulate"]
