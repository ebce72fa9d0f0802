"""The `veriframe` command: starts, stops and drives the parts of the platform."""
