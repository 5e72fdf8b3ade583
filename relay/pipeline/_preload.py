"""Imported once by the forkserver that forks ingest workers (see `workers`): what
every worker needs is loaded here, before the fork, and shared."""

from relay.pipeline import ingesting  # noqa: F401
from relay.tokens import warm_up

warm_up()
