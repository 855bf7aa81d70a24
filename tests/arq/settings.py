"""Settings jobq must refuse or survive, beside the app of `tests/arq/app.py`."""

import json
import pickle

from tests.arq import app


async def raising(ctx):
    raise RuntimeError("a broken hook")


class Pickled:
    functions = [app.add]
    job_serializer = pickle.dumps
    job_deserializer = pickle.loads


class Msgpackish:
    functions = [app.add]
    job_serializer = repr
    job_deserializer = json.loads


class Nothing:
    job_serializer = app.serialize
    job_deserializer = json.loads


# A dict works as well as a class, as in ARQ.
fragile = {
    "functions": [app.add],
    "on_job_start": raising,
    "job_serializer": app.serialize,
    "job_deserializer": json.loads,
    "poll_delay": 0.05,
}
