"""One module per `edgenn` verb; see edgenn/cli.py for the contract."""
