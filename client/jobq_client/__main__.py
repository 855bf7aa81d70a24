"""`python -m jobq_client COMMAND`: the `jobq` commands of the client, where only the client is installed."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
