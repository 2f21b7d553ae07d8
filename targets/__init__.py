"""edgenn.targets stage."""
