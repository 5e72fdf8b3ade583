"""`python -m relay` runs the command line."""

from relay.cli import main

if __name__ == "__main__":   # worker processes import this module again (as __mp_main__)
    main(prog_name="relay")
