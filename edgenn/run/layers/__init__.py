"""Per-layer insight: where the time goes on each target (`profile`), and at which layer a
variant starts to drift from PyTorch (`diverge`), both named by the PyTorch module path
(`names`) so one table reads `features.3` across every backend."""
