"""relay: carries local information gathered abroad back to the people at home who need it."""

__version__ = "0.1.0"
