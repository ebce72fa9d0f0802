"""`python -m kubonode` is `veriframe ipfs`."""

from kubonode.cli import main

if __name__ == "__main__":
    main()
