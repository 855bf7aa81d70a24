"""One bench program per system, each run inside that system's virtual environment.

`python -m bench.systems.<system> worker` is a worker process; `... client <scenario>
<spec>` runs one scenario's client. jobq's workers are `python -m jobq_worker` itself.
`arq_app` and `arq_producer` are the ARQ app run both by ARQ's worker and by jobq's
(`bench.arq_on_jobq`), and its producer.
"""
