"""The job state machine: its table, its decisions, and the SQL that implements it."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobq_core.model.priority import MAX_PRIORITY, MIN_PRIORITY
from jobq_core.model.states import (
    CANCELLABLE,
    FINISHED,
    RETRYABLE_BY_HAND,
    TRANSITIONS,
    WAITING,
    JobStatus,
    after_failure,
    can_transition,
    initial_status,
)
from jobq_core.pg.db import Q

S = JobStatus

# The edges of DESIGN.md's diagram, plus scheduled → running: a scheduled job whose time
# has come is claimed straight from `scheduled` (claim_job guards on both waiting states).
EXPECTED_EDGES = {
    (S.SCHEDULED, S.QUEUED),  # due
    (S.SCHEDULED, S.RUNNING),  # claimed when due
    (S.QUEUED, S.RUNNING),  # claim
    (S.RUNNING, S.SUCCEEDED),
    (S.RUNNING, S.SCHEDULED),  # retry at T
    (S.RUNNING, S.QUEUED),  # retry now, or handed back on shutdown
    (S.RUNNING, S.DEAD),  # attempts used up
    (S.SCHEDULED, S.CANCELLED),
    (S.QUEUED, S.CANCELLED),
    (S.RUNNING, S.CANCELLED),  # cooperative
    (S.DEAD, S.QUEUED),  # retry by hand
    (S.CANCELLED, S.QUEUED),  # retry by hand
}


def edges() -> set[tuple[JobStatus, JobStatus]]:
    return {(source, target) for source, targets in TRANSITIONS.items() for target in targets}


# --- the table -------------------------------------------------------------------------


def test_every_status_has_a_row_in_the_table() -> None:
    assert set(TRANSITIONS) == set(JobStatus)


def test_the_table_has_exactly_the_edges_of_the_design() -> None:
    assert edges() == EXPECTED_EDGES


@pytest.mark.parametrize(("source", "target"), sorted(EXPECTED_EDGES))
def test_can_transition_allows_each_edge_of_the_design(source: JobStatus, target: JobStatus) -> None:
    assert can_transition(source, target)


def test_succeeded_has_no_way_out() -> None:
    assert not any(can_transition(S.SUCCEEDED, target) for target in JobStatus)


@pytest.mark.parametrize("source", [S.DEAD, S.CANCELLED])
def test_dead_and_cancelled_jobs_only_go_back_to_the_queue(source: JobStatus) -> None:
    assert [t for t in JobStatus if can_transition(source, t)] == [S.QUEUED]


def test_no_state_leads_to_itself() -> None:
    assert not [s for s in JobStatus if can_transition(s, s)]


def test_only_running_jobs_finish() -> None:
    finishing = {(s, t) for s, t in edges() if t in {S.SUCCEEDED, S.DEAD}}
    assert finishing == {(S.RUNNING, S.SUCCEEDED), (S.RUNNING, S.DEAD)}


def test_waiting_jobs_cannot_skip_running() -> None:
    for source in WAITING:
        assert not can_transition(source, S.SUCCEEDED)
        assert not can_transition(source, S.DEAD)
    assert not can_transition(S.QUEUED, S.SCHEDULED)


def test_the_named_state_sets_agree_with_the_table() -> None:
    assert all(can_transition(s, S.CANCELLED) for s in CANCELLABLE)
    assert all(can_transition(s, S.QUEUED) for s in RETRYABLE_BY_HAND)
    assert CANCELLABLE == WAITING
    assert RETRYABLE_BY_HAND < FINISHED
    assert WAITING.isdisjoint(FINISHED)
    # A finished job moves only when someone retries it by hand.
    for source in FINISHED:
        assert TRANSITIONS[source] <= {S.QUEUED}
        assert bool(TRANSITIONS[source]) == (source in RETRYABLE_BY_HAND)


def test_every_status_is_reachable_from_a_new_job() -> None:
    seen = {initial_status(0), initial_status(10)}
    frontier = list(seen)
    while frontier:
        for target in TRANSITIONS[frontier.pop()]:
            if target not in seen:
                seen.add(target)
                frontier.append(target)
    assert seen == set(JobStatus)


def test_the_schema_check_constraint_lists_exactly_the_statuses() -> None:
    schema = resources.files("jobq_core.pg").joinpath("schema.sql").read_text(encoding="utf-8")
    match = re.search(r"status\s+text NOT NULL\s+CHECK \(status IN \(([^)]*)\)\)", schema)
    assert match, "jobq_jobs.status CHECK constraint not found"
    assert set(re.findall(r"'(\w+)'", match[1])) == {str(s) for s in JobStatus}


# --- initial_status ------------------------------------------------------------------------


@pytest.mark.parametrize("delay_s", [0, 0.0, -1, -0.001])
def test_a_job_due_now_or_in_the_past_starts_queued(delay_s: float) -> None:
    assert initial_status(delay_s) is S.QUEUED


@pytest.mark.parametrize("delay_s", [0.001, 1, 86_400])
def test_a_job_due_later_starts_scheduled(delay_s: float) -> None:
    assert initial_status(delay_s) is S.SCHEDULED


# --- after_failure ---------------------------------------------------------------------


def test_a_permanent_failure_is_dead_even_with_attempts_left() -> None:
    outcome = after_failure(1, 5, permanent=True, retry_in_s=10)
    assert outcome.status is S.DEAD
    assert outcome.retry_in_s is None


def test_the_last_attempt_is_dead() -> None:
    outcome = after_failure(5, 5, permanent=False, retry_in_s=10)
    assert outcome.status is S.DEAD
    assert outcome.retry_in_s is None


def test_an_attempt_beyond_the_limit_is_dead() -> None:
    # max_attempts may have been lowered while the job ran.
    assert after_failure(7, 3, permanent=False, retry_in_s=1).status is S.DEAD


def test_a_failure_with_attempts_left_waits_for_its_delay() -> None:
    outcome = after_failure(2, 5, permanent=False, retry_in_s=7.5)
    assert outcome.status is S.SCHEDULED
    assert outcome.retry_in_s == 7.5


def test_a_failure_with_no_delay_goes_straight_back_to_the_queue() -> None:
    outcome = after_failure(1, 2, permanent=False, retry_in_s=0)
    assert outcome.status is S.QUEUED
    assert outcome.retry_in_s == 0


@given(
    max_attempts=st.integers(1, 50),
    data=st.data(),
    permanent=st.booleans(),
    retry_in_s=st.floats(0, 1e6, allow_nan=False),
)
def test_after_failure_always_takes_an_edge_out_of_running(
    max_attempts: int, data: st.DataObject, permanent: bool, retry_in_s: float
) -> None:
    attempt = data.draw(st.integers(1, max_attempts + 3))
    outcome = after_failure(attempt, max_attempts, permanent=permanent, retry_in_s=retry_in_s)

    assert can_transition(S.RUNNING, outcome.status)
    assert (outcome.status is S.DEAD) == (permanent or attempt >= max_attempts)
    if outcome.status is S.DEAD:
        assert outcome.retry_in_s is None
    else:
        assert outcome.retry_in_s == retry_in_s
        assert outcome.status is (S.SCHEDULED if retry_in_s > 0 else S.QUEUED)


# --- the SQL guards agree with the table --------------------------------------------------

GUARDED_UPDATES = [
    "claim_jobs",
    "finish_succeeded_jobs",
    "finish_failed",
    "cancel_waiting_job",
    "retry_job",
    "hand_back_job",
]

# finish_failed sets the status the caller passes: whatever after_failure decides.
FAILURE_OUTCOMES = {
    after_failure(1, 2, permanent=True, retry_in_s=1).status,
    after_failure(1, 2, permanent=False, retry_in_s=1).status,
    after_failure(1, 2, permanent=False, retry_in_s=0).status,
}

_UPDATE = re.compile(
    r"UPDATE\s+jobq_jobs(?:\s+(?:AS\s+)?\w+)?\s+SET\s+(?P<set>.*?)\s+WHERE\s+(?P<where>.*?)(?:\s+RETURNING\b|;|$)",
    re.S,
)
# `status = 'x'`, `status = $3` or `status = CASE ... END` in a SET list.
_SET_STATUS = re.compile(r"(?<![\w.])status\s*=\s*(?P<value>'\w+'|\$\d+|CASE\b.*?\bEND\b)", re.S)
_CASE_RESULT = re.compile(r"\b(?:THEN|ELSE)\s+'(\w+)'")
_GUARD_IN = re.compile(r"\bstatus\s+IN\s*\(([^)]*)\)")
_GUARD_EQ = re.compile(r"\bstatus\s*=\s*'(\w+)'")


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _targets(value: str) -> set[JobStatus]:
    if value.startswith("$"):
        return set(FAILURE_OUTCOMES)
    if value.upper().startswith("CASE"):
        return {JobStatus(s) for s in _CASE_RESULT.findall(value)}
    return {JobStatus(value.strip("'"))}


def status_edges(sql: str) -> tuple[set[JobStatus], set[JobStatus]]:
    """(guarded source states, target states) of the one UPDATE of jobq_jobs in `sql`."""
    updates = list(_UPDATE.finditer(_strip_comments(sql)))
    assert len(updates) == 1, f"expected one UPDATE jobq_jobs, found {len(updates)}"
    set_part, where = updates[0]["set"], updates[0]["where"]

    targets: set[JobStatus] = set()
    for assignment in _SET_STATUS.finditer(set_part):
        targets |= _targets(assignment["value"])

    sources = {JobStatus(s) for group in _GUARD_IN.findall(where) for s in re.findall(r"'(\w+)'", group)}
    sources |= {JobStatus(s) for s in _GUARD_EQ.findall(where)}
    return sources, targets


def _sets_status(sql: str) -> bool:
    return any(_SET_STATUS.search(m["set"]) for m in _UPDATE.finditer(_strip_comments(sql)))


STATUS_CHANGES = sorted(name for name, sql in Q.items() if _sets_status(sql))


def test_every_guarded_update_is_found_among_the_queries() -> None:
    assert set(GUARDED_UPDATES) <= set(STATUS_CHANGES)


@pytest.mark.parametrize("name", STATUS_CHANGES)
def test_the_sql_guard_and_target_are_an_edge_of_the_state_machine(name: str) -> None:
    sources, targets = status_edges(Q[name])

    assert sources, f"{name} changes a status without checking the one it leaves"
    assert targets, f"{name}: no target status found"
    not_allowed = sorted((str(s), str(t)) for s in sources for t in targets if not can_transition(s, t))
    assert not not_allowed, f"{name} moves jobs along edges the state machine lacks: {not_allowed}"


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        (
            "UPDATE jobq_jobs SET status = 'queued' WHERE id = $1 AND status = 'succeeded' RETURNING *",
            ({S.SUCCEEDED}, {S.QUEUED}),
        ),
        (
            "UPDATE jobq_jobs SET status = 'running', n = 1 WHERE id = $1 AND status IN ('queued', 'dead');",
            ({S.QUEUED, S.DEAD}, {S.RUNNING}),
        ),
        (
            "WITH d AS (UPDATE jobq_jobs SET status = $3, run_at = CASE WHEN $3 = 'dead' THEN run_at END"
            " WHERE id = $1 AND status = 'running' RETURNING id) SELECT * FROM d",
            ({S.RUNNING}, FAILURE_OUTCOMES),
        ),
        (
            "UPDATE jobq_jobs j SET status = CASE WHEN j.x THEN 'cancelled' ELSE 'succeeded' END"
            " FROM lost WHERE j.id = lost.id AND j.status = 'scheduled' RETURNING j.id",
            ({S.SCHEDULED}, {S.CANCELLED, S.SUCCEEDED}),
        ),
        ("UPDATE jobq_jobs SET progress = 1 WHERE id = $1 AND status = 'running'", ({S.RUNNING}, set())),
    ],
)
def test_the_parser_reads_guards_and_targets(sql: str, expected: tuple[set[JobStatus], set[JobStatus]]) -> None:
    # The parser is what makes the SQL test able to fail; pin what it reads.
    assert status_edges(sql) == expected


def test_the_parser_reads_the_real_claim_and_failure_queries() -> None:
    assert status_edges(Q["claim_jobs"]) == ({S.QUEUED, S.SCHEDULED}, {S.RUNNING})
    assert status_edges(Q["finish_failed"]) == ({S.RUNNING}, {S.SCHEDULED, S.QUEUED, S.DEAD})


def test_cancel_and_retry_guards_match_the_named_state_sets() -> None:
    assert status_edges(Q["cancel_waiting_job"]) == (set(CANCELLABLE), {S.CANCELLED})
    assert status_edges(Q["retry_job"]) == (set(RETRYABLE_BY_HAND), {S.QUEUED})


def test_the_schema_bounds_priority_as_the_model_does() -> None:
    schema = resources.files("jobq_core.pg").joinpath("schema.sql").read_text(encoding="utf-8")
    match = re.search(r"priority\s+smallint[^,]*CHECK \(priority BETWEEN (-?\d+) AND (-?\d+)\)", schema)
    assert match, "jobq_jobs.priority CHECK constraint not found"
    assert (int(match[1]), int(match[2])) == (MIN_PRIORITY, MAX_PRIORITY)
