"""`python -m veriframe` is the `veriframe` command."""

from veriframe.cli import main

main()
