"""`python -m devchain` is `veriframe devchain`."""

import sys

from veriframe_dagster.cli import main

if __name__ == "__main__":  # not when a bulk-load signer process (spawn) imports it
    main(["devchain", *sys.argv[1:]])
