"""pai: a personal AI agent for the command line that remembers."""

__version__ = "0.1.0"
__all__ = ["__version__"]
