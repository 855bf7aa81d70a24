"""The Redis wire format: ARQ's layout, carried as JSON, and nothing else accepted."""

from __future__ import annotations

import json
import pickle
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import arq.constants
import pytest
from arq.jobs import deserialize_job
from hypothesis import example, given, settings
from hypothesis import strategies as st

from jobq_core import names
from jobq_core.dispatch.channel import SCRIPTS
from jobq_core.dispatch.wire import Dispatch, Message, deserialize, encode, parse_args, serialize
from jobq_core.errors import SerializationError
from jobq_core.model.priority import MAX_PRIORITY, MIN_PRIORITY, PRIORITY_STEP_MS

JOB_ID = "0b7e4c3a-2f6d-4c1e-9a57-3d2a1f0e8b6c"
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
NOW = datetime(2030, 5, 17, 12, 0, 0, 250_000, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def ms(t: datetime) -> int:
    """`t` in whole milliseconds since the epoch, computed exactly (never early)."""
    micros = (t - EPOCH) // timedelta(microseconds=1)
    return -(-micros // 1000)


NOW_MS = ms(NOW)


def message(**overrides: Any) -> dict[str, Any]:
    return {"t": None, "f": names.JOB_FUNCTION, "a": [JOB_ID, 1, {}], "k": {}, "et": NOW_MS, **overrides}


# --- serialize / deserialize -------------------------------------------------------------


def test_serialize_writes_json() -> None:
    data = serialize(message())
    assert json.loads(data) == message()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=10,
)


@settings(max_examples=40)
@given(args=st.lists(json_values, max_size=4), kwargs=st.dictionaries(st.text(), json_values, max_size=3))
def test_a_message_survives_the_round_trip(args: list[Any], kwargs: dict[str, Any]) -> None:
    original = message(a=args, k=kwargs)
    assert deserialize(serialize(original)) == original


def test_pickled_data_is_refused() -> None:
    with pytest.raises(SerializationError, match="not JSON"):
        deserialize(pickle.dumps(message()))


@pytest.mark.parametrize("data", [b"", b"{", b"\xff\xfe", b"jobq.run", b"{'f': 'jobq.run'}"])
def test_data_that_is_not_json_is_refused(data: bytes) -> None:
    with pytest.raises(SerializationError, match="not JSON"):
        deserialize(data)


@pytest.mark.parametrize(
    "value",
    [[], "jobq.run", 42, None, {}, {"f": "other.function", "a": [JOB_ID, 1, {}]}, {"function": names.JOB_FUNCTION}],
)
def test_json_that_is_not_a_jobq_message_is_refused(value: Any) -> None:
    with pytest.raises(SerializationError, match="not a jobq message"):
        deserialize(json.dumps(value).encode())


def test_the_refusal_is_a_jobq_error_with_a_readable_message() -> None:
    with pytest.raises(SerializationError) as info:
        deserialize(b"\x80\x04garbage")
    assert info.value.message == "A Redis message is not a jobq JSON message. not JSON"


# --- parse_args ----------------------------------------------------------------------------


def test_parse_args_reads_a_jobq_message() -> None:
    assert parse_args([JOB_ID, 3, TRACE]) == Message(JOB_ID, 3, TRACE)


def test_parse_args_treats_a_missing_trace_as_empty() -> None:
    assert parse_args([JOB_ID, 1, None]) == Message(JOB_ID, 1, {})


@pytest.mark.parametrize(
    "args",
    [
        [],
        [JOB_ID],
        [JOB_ID, 1],
        [JOB_ID, 1, {}, "extra"],
        [JOB_ID, "first", {}],
        [JOB_ID, None, {}],
        [JOB_ID, 1, "not a mapping"],
        [JOB_ID, 1, 7],
        None,
        42,
    ],
)
def test_parse_args_refuses_malformed_arguments(args: Any) -> None:
    with pytest.raises(SerializationError, match="malformed arguments"):
        parse_args(args)


# --- encode: ARQ's format ---------------------------------------------------------------


def dispatch(run_at: datetime, **overrides: Any) -> Dispatch:
    fields: dict[str, Any] = {"job_id": JOB_ID, "attempt": 2, "queue": "emails", "run_at": run_at}
    return Dispatch(**{**fields, **overrides})


def score_of(run_at: datetime, now_ms: int = NOW_MS, **overrides: Any) -> int:
    _, _, score, _ = encode(dispatch(run_at, **overrides), now_ms)
    assert isinstance(score, int)
    return score


def test_encode_names_the_queue_and_the_attempt() -> None:
    queue_key, arq_id, _, _ = encode(dispatch(NOW - timedelta(seconds=5)), NOW_MS)
    assert queue_key == "jobq:queue:emails"
    assert arq_id == f"{JOB_ID}:2"


def test_the_key_prefixes_are_arqs_own() -> None:
    # The enqueue and take scripts build the keys from these prefixes.
    assert arq.constants.job_key_prefix == names.ARQ_JOB_PREFIX
    assert arq.constants.result_key_prefix == names.ARQ_RESULT_PREFIX
    assert arq.constants.in_progress_key_prefix == names.ARQ_IN_PROGRESS_PREFIX


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_the_lua_scripts_spell_arqs_prefixes(script: str) -> None:
    # A Lua script cannot import names.py: each declares the prefixes it uses, as ARQ spells them.
    declared = re.findall(r"'(arq:[a-z-]+:)'", SCRIPTS[script])
    assert declared
    assert set(declared) <= {names.ARQ_JOB_PREFIX, names.ARQ_RESULT_PREFIX, names.ARQ_IN_PROGRESS_PREFIX}


def test_each_attempt_has_its_own_arq_id() -> None:
    first = encode(dispatch(NOW, attempt=1), NOW_MS)
    second = encode(dispatch(NOW, attempt=2), NOW_MS)
    assert first[1] != second[1]
    assert first[0] == second[0]  # same queue


priorities = st.integers(MIN_PRIORITY, MAX_PRIORITY)
ages = st.integers(0, 10 * 86_400_000)


@given(priority=priorities, age_ms=ages)
def test_a_dispatch_is_due_at_once(priority: int, age_ms: int) -> None:
    # ARQ runs what scores at or below now: a dispatched job must not wait in Redis.
    assert score_of(NOW - timedelta(milliseconds=age_ms), priority=priority) <= NOW_MS


@given(priority=priorities, earlier_ms=ages, later_ms=st.integers(1, 86_400_000))
def test_within_a_priority_jobs_run_in_the_order_they_became_ready(
    priority: int, earlier_ms: int, later_ms: int
) -> None:
    first = NOW - timedelta(milliseconds=earlier_ms + later_ms)
    second = NOW - timedelta(milliseconds=earlier_ms)
    assert score_of(second, priority=priority) - score_of(first, priority=priority) == later_ms


@given(low=st.integers(MIN_PRIORITY, MAX_PRIORITY - 1), data=st.data(), age_ms=ages)
def test_a_higher_priority_runs_first(low: int, data: st.DataObject, age_ms: int) -> None:
    high = data.draw(st.integers(low + 1, MAX_PRIORITY))
    run_at = NOW - timedelta(milliseconds=age_ms)
    assert score_of(run_at, priority=high) < score_of(run_at, priority=low)
    assert score_of(run_at, priority=low) - score_of(run_at, priority=high) == (high - low) * PRIORITY_STEP_MS


def test_a_priority_level_is_worth_one_step_of_waiting() -> None:
    # A job one level up that became ready just now still goes before one that has
    # waited a little less than a step.
    waited = score_of(NOW - timedelta(milliseconds=PRIORITY_STEP_MS - 1), priority=0)
    urgent = score_of(NOW, priority=1)
    assert urgent < waited


def test_a_future_run_time_is_not_backdated_beyond_now() -> None:
    # Only due jobs are dispatched; one stamped a little ahead (clock skew) sorts as ready now.
    assert score_of(NOW + timedelta(seconds=3)) == score_of(NOW)


@settings(max_examples=50)
@given(
    run_at=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2029, 1, 1), timezones=st.just(UTC)).map(
        lambda t: t.replace(microsecond=t.microsecond // 1000 * 1000)
    ),
)
# A float timestamp puts this one at ...908 ms.
@example(run_at=datetime(2004, 8, 21, 8, 36, 26, 909_000, tzinfo=UTC))
def test_a_whole_millisecond_run_time_is_counted_exactly(run_at: datetime) -> None:
    reference = datetime(2000, 1, 1, tzinfo=UTC)
    assert score_of(run_at) - score_of(reference) == ms(run_at) - ms(reference)


@given(micros=st.integers(1, 999))
def test_a_run_time_between_milliseconds_rounds_up(micros: int) -> None:
    base = NOW - timedelta(seconds=10, microseconds=NOW.microsecond)
    assert score_of(base + timedelta(microseconds=micros)) == score_of(base) + 1


def test_the_body_is_an_arq_job_definition_arq_itself_reads() -> None:
    _, _, _, body = encode(dispatch(NOW, trace_context=TRACE), NOW_MS)
    assert isinstance(body, str)
    job = deserialize_job(body.encode(), deserializer=deserialize)
    assert job.function == names.JOB_FUNCTION
    assert list(job.args) == [JOB_ID, 2, TRACE]
    assert job.kwargs == {}
    assert job.enqueue_time == EPOCH + timedelta(milliseconds=NOW_MS)
    assert parse_args(job.args) == Message(JOB_ID, 2, TRACE)


def test_the_body_is_plain_json() -> None:
    _, _, _, body = encode(dispatch(NOW), NOW_MS)
    assert json.loads(body) == {"l": 360_000, "t": None, "f": "jobq.run", "a": [JOB_ID, 2, {}], "k": {}, "et": NOW_MS}


def test_the_lease_comes_first_and_follows_the_jobs_timeout() -> None:
    # The take script reads the lease from the start of the body, without decoding it.
    _, _, _, body = encode(dispatch(NOW, timeout_s=5), NOW_MS)
    assert body.startswith('{"l":65000,')
