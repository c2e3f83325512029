"""`python -m chalicelib.cli …`: the `wbr` command."""

import sys

from chalicelib.cli.main import main

if __name__ == "__main__":  # not in a spawned worker of `wbr ingest`, which imports this as __mp_main__
    sys.exit(main())
