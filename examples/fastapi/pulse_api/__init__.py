"""A small FastAPI service on pulse's SQL API (examples/fastapi/README.md)."""
