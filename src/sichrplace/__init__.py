"""SichrPlace: trusted apartment-viewing and rental marketplace backend."""

__version__ = "0.1.0"
