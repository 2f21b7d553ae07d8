"""edgenn: take a PyTorch model to CPU, mobile, GPU and spiking targets, measured side by side."""

__version__ = "0.1.0"
