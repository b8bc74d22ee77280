"""The shared result schema and the SQLite results store."""
from tsmbench.results.schema import SCHEMA_VERSION, environment, make_document

__all__ = ["SCHEMA_VERSION", "environment", "make_document"]
