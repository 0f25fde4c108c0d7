"""``python -m tracking.data.synthetic``: the command line of ``cli.main``."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
