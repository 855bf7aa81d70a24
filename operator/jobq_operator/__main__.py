"""`python -m jobq_operator`: the image's entry point; the operator issue fills it in."""

import sys

if __name__ == "__main__":
    print("jobq-operator: the operator is not built yet", file=sys.stderr)
    sys.exit(2)
