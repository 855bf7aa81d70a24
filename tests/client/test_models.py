"""The client cannot drift from the API: its models are the served OpenAPI document's, every
call it makes is a route of that document read as its answer model, and its keyword
arguments are the bodies' and the query's fields."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from jobq_devrun import runner

import jobq_client
from jobq_client import AsyncClient, Client, names
from jobq_client import operations as ops
from jobq_client.calls import Call
from jobq_client.models import JobIn, ScheduleIn, SchedulePatch
from jobq_core import names as core_names
from tests.support.processes import Api
from tools.client_models import MODELS_PY, models_py

SOME_ID = "01a23000-0000-7000-8000-000000000000"


@pytest.fixture(scope="module")
async def served(api_process: Api) -> dict[str, Any]:
    """The OpenAPI document the running API serves."""
    async with httpx.AsyncClient(base_url=api_process.url) as http:
        response = await http.get("/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations() -> dict[str, Callable[..., ops.Op[Any]]]:
    """Every operation: the public functions of jobq_client.operations that return one."""
    return {
        name: fn
        for name, fn in vars(ops).items()
        if inspect.isfunction(fn) and fn.__module__ == ops.__name__ and not name.startswith("_")
        and str(inspect.signature(fn).return_annotation).startswith("Op[")
    }  # fmt: skip


def first_call(name: str) -> Call:
    """The first call the operation makes, from made-up arguments."""
    fn = operations()[name]
    arguments = {
        p.name: [{"type": "jobq.noop"}] if p.name == "jobs" else {"type": "jobq.noop"} if p.name == "job" else SOME_ID
        for p in inspect.signature(fn).parameters.values()
        if p.default is inspect.Parameter.empty
    }
    call = next(fn(**arguments))
    assert isinstance(call, Call)
    return call


def test_the_models_are_what_the_served_document_gives(served: dict[str, Any]) -> None:
    assert models_py(served) == MODELS_PY.read_text(), "out of date: run `make docs`"


def test_every_call_is_a_route_of_the_document_read_as_its_answer(served: dict[str, Any]) -> None:
    routes = {
        (method.upper(), re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", path) + "$")): operation
        for path, methods in served["paths"].items()
        for method, operation in methods.items()
    }
    checked = []
    for name in operations():
        call = first_call(name)
        matches = [op for (method, pattern), op in routes.items() if method == call.method and pattern.match(call.path)]
        # A fixed path (`/v1/jobs/count`) is served before a templated one it also fits (`/v1/jobs/{job_id}`).
        literal = served["paths"].get(call.path, {}).get(call.method.lower())
        matches = [literal] if literal else matches
        assert len(matches) == 1, f"{name}: {call} is no route of the API"
        responses = matches[0]["responses"]
        if call.read.model is None:
            assert "204" in responses, f"{name}: {call} answers a body"
        else:
            success = next(r for status, r in responses.items() if status in ("200", "201"))
            ref = success["content"]["application/json"]["schema"]["$ref"]
            assert ref.rsplit("/", 1)[1] == call.read.model.__name__, f"{name}: {call}"
            if call.read.member:
                assert call.read.member in served["components"]["schemas"][call.read.model.__name__]["properties"]
        checked.append(name)
    assert len(checked) >= 23


def test_the_keyword_arguments_are_the_fields_of_what_is_sent(served: dict[str, Any]) -> None:
    def parameters(fn: Callable[..., Any], *leave_out: str) -> set[str]:
        return set(inspect.signature(fn).parameters) - set(leave_out)

    assert parameters(ops.submit) == set(JobIn.model_fields)
    assert parameters(ops.create_schedule) == set(ScheduleIn.model_fields)
    assert parameters(ops.update_schedule, "schedule_id") == set(SchedulePatch.model_fields)
    query = {p["name"] for p in served["paths"]["/v1/jobs"]["get"]["parameters"] if p["in"] == "query"}
    assert parameters(ops.list_jobs) == query
    runs = served["paths"]["/v1/schedules/{schedule_id}/runs"]["get"]["parameters"]
    assert parameters(ops.schedule_runs, "schedule_id") == {p["name"] for p in runs if p["in"] == "query"}
    for client in (Client, AsyncClient):
        assert parameters(client.iter_jobs, "self", "page_size") == query - {"limit", "cursor"}


def test_both_clients_offer_every_operation_with_its_signature() -> None:
    for name, fn in operations().items():
        for client in (Client, AsyncClient):
            method = getattr(client, name)
            assert method.__doc__ == fn.__doc__
            assert list(inspect.signature(method).parameters)[1:] == list(inspect.signature(fn).parameters)
    public = {n for n in dir(Client) if not n.startswith("_")}
    assert public == {n for n in dir(AsyncClient) if not n.startswith("_")} - {"aclose"} | {"close"}
    assert public - set(operations()) == {"base_url", "close", "events", "iter_jobs", "wait"}


def test_the_names_are_the_apis_and_the_ones_make_run_prints() -> None:
    assert (names.API_URL_ENV, names.API_KEY_ENV) == (runner.API_URL_VAR, runner.API_KEY_VAR)
    assert names.IDEMPOTENCY_HEADER == core_names.IDEMPOTENCY_HEADER
    assert names.LAST_EVENT_ID_HEADER == core_names.LAST_EVENT_ID_HEADER
    assert names.PROBLEM_TYPE_BASE == core_names.PROBLEM_TYPE_BASE
    assert set(jobq_client.__all__) <= set(dir(jobq_client))
