"""The library version, written into every saved file's header (kept in step with pyproject.toml)."""

__version__ = "0.1.0"
