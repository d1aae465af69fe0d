"""FastAPI service and the bazkhord CLI."""
