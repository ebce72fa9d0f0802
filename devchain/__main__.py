"""`python -m devchain` is `veriframe devchain`."""

from veriframe_dagster.cli import main

main(["devchain", *__import__("sys").argv[1:]])
