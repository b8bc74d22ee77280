"""The shared result schema and the SQLite results store."""
from tsmbench.results.schema import SCHEMA_VERSION, environment, load_document, make_document, validate_document
from tsmbench.results.store import record_run

__all__ = ["SCHEMA_VERSION", "environment", "load_document", "make_document", "record_run", "validate_document"]
