"""Error fingerprints: what varies from job to job is set aside, what names the failure is kept."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobq_core.model.fingerprint import (
    MESSAGE_CHARS,
    SAMPLE_IDS,
    DeadJob,
    fingerprint,
    group,
    normalise,
    oldest_first,
)


@pytest.mark.parametrize(
    ("message", "pattern"),
    [
        ("user 42 not found", "user <n> not found"),
        ("job 6f1c9a2e-0b7d-4c1e-9f3a-2b8c4d5e6f70 failed", "job <uuid> failed"),
        ("JOB 6F1C9A2E-0B7D-4C1E-9F3A-2B8C4D5E6F70 failed", "JOB <uuid> failed"),
        ("commit 9f8e7d6c5b4a lost", "commit <hex> lost"),
        ("request req-9f8e7d6c refused", "request req-<hex> refused"),
        ("pointer 0xDEADBEEF freed", "pointer <hex> freed"),
        ("KeyError: 'job_abc'", "KeyError: '<s>'"),
        ('no column "user id"', "no column '<s>'"),
        ("bounce for ada.lovelace+jobs@mail.example.org", "bounce for <email>"),
        ("at 2026-01-02T03:04:05.123Z the lock expired", "at <ts> the lock expired"),
        ("connect to 10.0.0.1:5432 refused", "connect to <n> refused"),
        ("timed out after 500ms, 3.5 s total", "timed out after <n>ms, <n> s total"),
        ("user_42 left", "user_<n> left"),
        ("  line one\n\tline   two  ", "line one line two"),
        # What names the failure stays: apostrophes are no quotes, words are no hex,
        # digits inside names are no numbers.
        ("can't reach it, isn't it up?", "can't reach it, isn't it up?"),
        ("deadbeef and facade", "deadbeef and facade"),
        ("utf8 sha256 http2 E11000 duplicate key", "utf8 sha256 http2 E11000 duplicate key"),
        # A quoted string takes what is inside it: one placeholder, not several.
        ("no user 'ada@example.com #42'", "no user '<s>'"),
        ("", ""),
    ],
)
def test_normalise_sets_the_variable_parts_aside(message: str, pattern: str) -> None:
    assert normalise(message) == pattern


def test_only_the_first_characters_of_a_long_message_count() -> None:
    head = "x" * MESSAGE_CHARS
    assert fingerprint("t", "E", head + " tail one") == fingerprint("t", "E", head + " tail two")
    assert len(normalise(head + "yyy")) == MESSAGE_CHARS


def test_a_fingerprint_is_16_hex_digits_and_the_same_every_time() -> None:
    key = fingerprint("email.send", "SMTPRecipientsRefused", "550 no such user 'ada@example.com'")
    assert re.fullmatch(r"[0-9a-f]{16}", key)
    # Pinned: a fingerprint names a group across processes and releases (a dashboard link
    # keeps working). Changing the rules changes it; do so knowingly.
    assert key == fingerprint("email.send", "SMTPRecipientsRefused", "550 no such user 'bob@example.org'")
    assert key == "028aecbc1fa3f8aa"


def test_type_error_type_and_fixed_text_all_tell_groups_apart() -> None:
    base = fingerprint("email.send", "ValueError", "user 1 not found")
    assert fingerprint("webhook.post", "ValueError", "user 1 not found") != base
    assert fingerprint("email.send", "KeyError", "user 1 not found") != base
    assert fingerprint("email.send", "ValueError", "user 1 was deleted") != base
    assert fingerprint("email.send", None, "") == fingerprint("email.send", "", None)


words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,:;!?()[]/", min_size=0, max_size=20)
# Each kind of variable part, drawn twice: two messages of one template differ in value only.
VARIABLE_KINDS = [
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.integers(min_value=0, max_value=10**12).map(str),
    st.floats(min_value=0, max_value=1e6, allow_nan=False).map(lambda f: f"{f:.3f}"),
    st.binary(min_size=4, max_size=20).map(lambda b: "1a" + b.hex()),  # a digit and a letter in it
    st.text(alphabet="abcdefXYZ 0123456789@.-_'", max_size=30).map(lambda s: '"' + s + '"'),
    st.text(alphabet="abcdefXYZ 0123456789@.-_", max_size=30).map(lambda s: f"'{s}'"),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,20}@[a-z0-9-]{1,10}(\.[a-z]{2,6}){1,3}", fullmatch=True),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
]


@given(fixed=st.lists(words, min_size=2, max_size=5), data=st.data())
def test_messages_that_differ_only_in_their_variables_share_a_fingerprint(
    fixed: list[str], data: st.DataObject
) -> None:
    kinds = [data.draw(st.sampled_from(VARIABLE_KINDS)) for _ in fixed[1:]]

    def message() -> str:
        # Each variable stands apart from the fixed text, as in real messages.
        slots = [data.draw(kind) for kind in kinds]
        return fixed[0] + "".join(f" {value} {text}" for value, text in zip(slots, fixed[1:], strict=True))

    assert fingerprint("t", "E", message()) == fingerprint("t", "E", message())


@given(st.text(max_size=2 * MESSAGE_CHARS))
def test_any_message_normalises_and_fingerprints(message: str) -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", fingerprint("t", "E", message))
    assert "\n" not in normalise(message)


T0 = datetime(2026, 1, 1, tzinfo=UTC)


def dead(message: str, minutes: int, type: str = "email.send", error_type: str = "ValueError") -> DeadJob:
    return DeadJob(uuid.uuid4(), type, error_type, message, T0 + timedelta(minutes=minutes))


def test_group_counts_jobs_by_fingerprint_largest_group_first() -> None:
    newest_first = [
        dead("user 9 not found", 9),
        dead("timeout after 30s", 8),
        dead("user 7 not found", 7),
        dead("user 5 not found", 5),
        dead("timeout after 10s", 4),
        dead("user 1 not found", 1, type="webhook.post"),
    ]

    groups = group(newest_first)

    assert [(g.type, g.message_pattern, g.count) for g in groups] == [
        ("email.send", "user <n> not found", 3),
        ("email.send", "timeout after <n>s", 2),
        ("webhook.post", "user <n> not found", 1),
    ]
    users = groups[0]
    assert users.sample_message == "user 9 not found"  # a real message, the newest
    assert users.sample_job_ids == [newest_first[0].id, newest_first[2].id, newest_first[3].id]
    assert (users.first_finished_at, users.last_finished_at) == (T0 + timedelta(minutes=5), T0 + timedelta(minutes=9))
    assert users.fingerprint == fingerprint("email.send", "ValueError", "user 123 not found")


def test_groups_of_one_size_come_newest_first_and_list_a_few_ids() -> None:
    jobs = [dead(f"a {i}", 100 - i) for i in range(SAMPLE_IDS + 3)] + [dead("b", 0)] * (SAMPLE_IDS + 3)

    groups = group(jobs)

    assert [g.message_pattern for g in groups] == ["a <n>", "b"]
    assert all(len(g.sample_job_ids) == SAMPLE_IDS for g in groups)


def test_oldest_first_puts_the_longest_dead_first() -> None:
    jobs = [dead("x", 3), dead("x", 1), dead("x", 2), DeadJob(uuid.uuid4(), "t", None, None, None)]
    assert [j.finished_at for j in oldest_first(jobs)] == [None, *(T0 + timedelta(minutes=m) for m in (1, 2, 3))]
