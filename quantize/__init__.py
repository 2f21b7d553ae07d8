"""edgenn.quantize stage."""
