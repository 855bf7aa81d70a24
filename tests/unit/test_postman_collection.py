"""The Postman collection's generator (tools/postman.py) against the API's OpenAPI document.

The run itself is tests/e2e/test_postman.py; these check, without a server, that the
generator refuses to leave a route out and that every request carries its test.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tools.api_types import openapi_document
from tools.postman import CollectionError, collection
from tools.postman_run import EXCLUDED


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi_document()


def requests(built: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for folder in built["item"] for item in folder["item"]]


def test_a_route_neither_run_nor_excluded_stops_the_generator(document: dict[str, Any]) -> None:
    grown = copy.deepcopy(document)
    grown["paths"]["/v1/brand-new"] = {"get": {"tags": ["meta"], "responses": {"200": {"description": "OK"}}}}
    with pytest.raises(CollectionError, match="GET /v1/brand-new"):
        collection(grown)


def test_an_exclusion_the_document_no_longer_has_stops_the_generator(document: dict[str, Any]) -> None:
    shrunk = copy.deepcopy(document)
    del shrunk["paths"]["/v1/events"]
    with pytest.raises(CollectionError, match="GET /v1/events"):
        collection(shrunk)


def test_every_operation_is_a_request_with_its_test_or_is_excluded(document: dict[str, Any]) -> None:
    built = collection(document)
    sent = {f"{r['request']['method']} /{'/'.join(r['request']['url']['path'])}" for r in requests(built)}
    for path, item in document["paths"].items():
        for method in item:
            name = f"{method.upper()} {path}"
            as_sent = name.replace("{", ":").replace("}", "")
            assert (as_sent in sent) != (name in EXCLUDED), name
    for request in requests(built):
        tests = [e for e in request["event"] if e["listen"] == "test"]
        assert len(tests) == 1 and any("pm.response.to.have.status(" in line for line in tests[0]["script"]["exec"])
    assert built["auth"]["bearer"][0]["value"] == "{{apiKey}}"
    unauthenticated = sorted(r["name"] for r in requests(built) if r["request"].get("auth") == {"type": "noauth"})
    assert unauthenticated == ["Liveness", "Prometheus metrics", "Readiness"]
