"""Offline guided-meditation audio generator."""
__version__ = "0.1.0"
