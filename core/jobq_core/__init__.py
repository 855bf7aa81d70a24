"""jobq's shared library: settings, schema and migrations, job store, queue client.

Services (api, worker, operator) import this package; it imports none of them.
"""

__version__ = "0.1.0"
