"""AnyAudio-Judge evaluation for Inspect AI."""

__version__ = "0.1.0"
