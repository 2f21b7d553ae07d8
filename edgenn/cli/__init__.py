"""The `edgenn` command line (the top of the house): `main` parses, each verb lives in
`edgenn/cli/commands/`, and this layer alone prints to the terminal."""

from edgenn.cli.program import main

__all__ = ["main"]
