"""Job ids: RFC 9562 version-7 UUIDs, unique, ordered by time, never shared with a fork."""

from __future__ import annotations

import os
import time
import uuid

from jobq_core.pg.store import new_job_id


def test_ids_are_version_7_uuids_with_the_rfc_variant() -> None:
    for _ in range(3 * new_job_id.BLOCK):  # across refills of the random bits
        job_id = new_job_id()
        assert job_id.version == 7
        assert job_id.variant == uuid.RFC_4122
        assert uuid.UUID(str(job_id)) == job_id


def test_ids_carry_the_millisecond_they_were_made() -> None:
    before = time.time_ns() // 1_000_000
    job_id = new_job_id()
    after = time.time_ns() // 1_000_000

    assert before <= job_id.int >> 80 <= after


def test_ids_are_unique_and_later_ones_sort_after_earlier_ones() -> None:
    first = [new_job_id() for _ in range(10_000)]
    time.sleep(0.002)
    second = [new_job_id() for _ in range(100)]

    assert len(set(first + second)) == len(first) + len(second)
    assert min(second) > max(first)


def test_a_forked_child_does_not_reuse_the_parents_random_bits() -> None:
    new_job_id()  # the parent holds unused random bits now
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once, whatever happens
        try:
            os.write(write, new_job_id().bytes)
        finally:
            os._exit(0)
    os.close(write)
    child_id = uuid.UUID(bytes=os.read(read, 16))
    os.close(read)
    os.waitpid(pid, 0)
    parent_id = new_job_id()

    # Same millisecond or not, the 74 random bits differ unless the bits were shared.
    assert _random_bits(child_id) != _random_bits(parent_id)


def _random_bits(job_id: uuid.UUID) -> int:
    """The 74 random bits of a version-7 UUID: 12 after the version, 62 after the variant."""
    return ((job_id.int >> 64) & 0xFFF) << 62 | job_id.int & ((1 << 62) - 1)
