"""`python -m devchain` is `veriframe devchain`."""

from devchain.cli import main

if __name__ == "__main__":
    main()
