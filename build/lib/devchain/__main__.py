"""`python -m devchain` is `veriframe devchain`."""

from devchain.cli import main

if __name__ == "__main__":  # not when a bulk-load signer process (spawn) imports it
    main()
