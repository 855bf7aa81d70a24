"""jobq's HTTP API (FastAPI): the v1 contract of DESIGN.md."""
