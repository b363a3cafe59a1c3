"""`python -m gradledger`: the `gradledger` command."""

import sys

from .cli import main

sys.exit(main())
