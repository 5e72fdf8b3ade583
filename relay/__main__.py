"""`python -m relay` runs the command line."""

from relay.cli import main

main(prog_name="relay")
