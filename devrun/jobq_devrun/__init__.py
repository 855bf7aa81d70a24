"""jobq on one machine: `jobq run` (what `make run` does) and the servers the tests start.

Not part of any image: it starts PostgreSQL and Redis from wheels, the API and workers
as child processes, and scales local workers with the operator's policy.
"""
