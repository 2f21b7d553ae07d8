"""`python -m edgenn.cli`: the same as the `edgenn` command."""

import sys

from edgenn.cli.program import main

sys.exit(main())
