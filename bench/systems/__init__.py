"""One bench program per system, each run inside that system's virtual environment.

`python -m bench.systems.<system> worker` is a worker process; `... client <scenario>
<spec>` runs one scenario's client. jobq's workers are `python -m jobq_worker` itself.
"""
