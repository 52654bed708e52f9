"""coinsuper: stream the Coinsuper exchange's real-time market data from the terminal."""

__version__ = "0.1.0"
