"""Imported once by the forkserver that forks ingest workers (see `workers`): what
every worker needs is loaded here, before the fork, and shared."""

import datasketch  # noqa: F401  - MinHash (and scipy under it): 0.3 s to import

from relay.pipeline import ingesting  # noqa: F401
from relay.tokens import warm_up

warm_up()
