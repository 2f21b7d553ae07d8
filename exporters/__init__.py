"""edgenn.exporters stage."""
