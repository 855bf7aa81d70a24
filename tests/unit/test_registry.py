"""The handler registry: one handler per job type, its schema from the pydantic model."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from pydantic import BaseModel, Field

from jobq_core.errors import InvalidPayload
from jobq_core.model.payloads import check, compile_schema
from jobq_worker.errors import PermanentFailure
from jobq_worker.handlers import builtin
from jobq_worker.registry import Registry, compose, load_registry


class Resize(BaseModel):
    """Resize an image."""

    image_url: str = Field(description="Where the image is.")
    width: int = Field(ge=1, le=10_000)
    keep_ratio: bool = True


async def resize(ctx: Any, payload: Resize) -> dict[str, Any]:
    """Resize the image at the URL.

    Longer explanation that is not part of the description.
    """
    return {"width": payload.width}


def registered(**options: Any) -> Registry:
    registry = Registry()
    registry.handler("images.resize", payload=Resize, **options)(resize)
    return registry


def test_a_handler_is_found_by_name_with_its_options() -> None:
    spec = registered(queue="images", timeout_s=60, max_attempts=3).get("images.resize")
    assert spec is not None
    assert spec.fn is resize
    assert (spec.queue, spec.timeout_s, spec.max_attempts) == ("images", 60, 3)
    assert Registry().get("images.resize") is None


def test_the_decorator_returns_the_function_unchanged() -> None:
    assert Registry().handler("x")(resize) is resize


def test_two_handlers_for_one_name_are_refused() -> None:
    registry = registered()

    async def other(ctx: Any, payload: Any) -> None:
        pass

    with pytest.raises(ValueError, match=r"images\.resize"):
        registry.handler("images.resize")(other)
    spec = registry.get("images.resize")
    assert spec is not None
    assert spec.fn is resize  # the first one stays


@pytest.mark.parametrize(("timeout_s", "max_attempts"), [(0, 1), (-1, 1), (10, 0)])
def test_impossible_limits_are_refused(timeout_s: float, max_attempts: int) -> None:
    with pytest.raises(ValueError, match="timeout_s"):
        Registry().handler("x", timeout_s=timeout_s, max_attempts=max_attempts)(resize)


def test_the_description_is_the_docstrings_first_line_unless_given() -> None:
    assert registered().all()[0].description == "Resize the image at the URL."
    assert registered(description="Make it smaller").all()[0].description == "Make it smaller"


def test_the_schema_comes_from_the_pydantic_model() -> None:
    schema = registered().all()[0].schema()
    assert schema["type"] == "object"
    assert set(schema["properties"]) == {"image_url", "width", "keep_ratio"}
    assert schema["required"] == ["image_url", "width"]
    assert schema["properties"]["width"]["type"] == "integer"
    assert schema["properties"]["width"]["minimum"] == 1
    assert schema["properties"]["image_url"]["description"] == "Where the image is."


def test_the_schema_checks_payloads_the_way_the_model_does() -> None:
    validator = compile_schema(registered().all()[0].schema())
    check(validator, {"image_url": "https://x/y.png", "width": 10})
    with pytest.raises(InvalidPayload) as info:
        check(validator, {"image_url": "https://x/y.png", "width": 0})
    assert [e["field"] for e in info.value.errors] == ["payload.width"]


def test_a_handler_without_a_model_takes_any_object() -> None:
    registry = Registry()
    registry.handler("free")(resize)
    spec = registry.get("free")
    assert spec is not None
    assert spec.schema() == {"type": "object"}
    assert spec.parse({"anything": [1, 2]}) == {"anything": [1, 2]}


def test_the_job_type_carries_the_handlers_settings() -> None:
    job_type = registered(queue="images", timeout_s=60, max_attempts=3).all()[0].job_type()
    assert (job_type.name, job_type.queue, job_type.timeout_s, job_type.max_attempts) == (
        "images.resize",
        "images",
        60,
        3,
    )
    assert job_type.payload_schema == Resize.model_json_schema()
    assert job_type.description == "Resize the image at the URL."


def test_parse_gives_the_handler_its_model() -> None:
    spec = registered().all()[0]
    parsed = spec.parse({"image_url": "u", "width": 5})
    assert parsed == Resize(image_url="u", width=5, keep_ratio=True)


@pytest.mark.parametrize("payload", [{"image_url": "u"}, {"image_url": "u", "width": "wide"}, None, [1]])
def test_a_payload_that_does_not_match_is_a_permanent_failure(payload: Any) -> None:
    spec = registered().all()[0]
    with pytest.raises(PermanentFailure, match=r"images\.resize"):
        spec.parse(payload)


def test_all_and_queues_are_sorted_and_unique() -> None:
    registry = Registry()
    for name, queue in [("b.job", "q2"), ("a.job", "q1"), ("c.job", "q2")]:
        registry.handler(name, queue=queue)(resize)
    assert [s.name for s in registry.all()] == ["a.job", "b.job", "c.job"]
    assert registry.queues() == ["q1", "q2"]


# --- composing registries ---------------------------------------------------------------


def test_compose_includes_every_part_and_a_duplicate_type_is_refused() -> None:
    mail, reports = Registry(), Registry()
    mail.handler("mail.send", queue="mail")(resize)
    reports.handler("reports.build", queue="reports")(resize)
    composed = compose([mail, reports])
    assert [s.name for s in composed.all()] == ["mail.send", "reports.build"]
    assert composed.queues() == ["mail", "reports"]
    again = Registry()
    again.handler("mail.send")(resize)
    with pytest.raises(ValueError, match=re.escape("'mail.send' has two handlers")):
        compose([mail, again])


def test_importing_a_handler_module_registers_nothing_elsewhere() -> None:
    before = [s.name for s in compose(builtin(demo_handlers=False)).all()]
    importlib.import_module("tests.support.handlers")
    assert [s.name for s in compose(builtin(demo_handlers=False)).all()] == before
    assert "test.record" in [s.name for s in compose([], ["tests.support.handlers"]).all()]


def test_the_demo_handlers_are_off_unless_asked_for() -> None:
    assert {s.name for s in compose(builtin(demo_handlers=False)).all()} == {"email.send", "webhook.post", "jobq.noop"}
    assert {"jobq.sleep", "jobq.fail"} <= {s.name for s in compose(builtin(demo_handlers=True)).all()}


def test_a_module_without_a_registry_is_a_clear_error() -> None:
    with pytest.raises(ImportError, match=re.escape("'tests.support.wait' has no Registry named 'handlers'")):
        load_registry("tests.support.wait")
    with pytest.raises(ImportError, match=re.escape("cannot import 'no.such.module'")):
        load_registry("no.such.module")
    assert load_registry("tests.support.handlers:handlers").get("test.record") is not None
