"""Error fingerprints: dead jobs that failed the same way, grouped.

Two failures are "the same" when the job type, the error type and the error message
agree once the parts that vary from job to job are replaced by placeholders:

```
user 42 not found: 'ada@example.com' (request 6f1c9a2e-…)   →   user <n> not found: '<s>' (request <uuid>)
```

`normalise` does the replacing, `fingerprint` hashes the result, and `group` gathers a
page of dead jobs into groups; plain functions, so the rules are tested without a
server (`tests/unit/test_fingerprint.py`).
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

MESSAGE_CHARS = 1_000
"""Characters of a message that count (and that a sample shows): longer ones are cut first."""
SAMPLE_IDS = 5
"""Job ids a group lists as examples, newest first."""
_NEVER = datetime.min.replace(tzinfo=UTC)

_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"
# One pass, the first alternative that matches at a position wins, so what one rule
# replaced is never read by another (a number inside a quoted string, a hex run inside
# a UUID). Boundaries are letters and digits only: `user_42` and `req-9f8e7d6c5b` have
# their variable part replaced, `utf8`, `sha256` and `E11000` stay as they are.
_VARIABLE = re.compile(
    "|".join(
        [
            # A quoted string, the quote not inside a word (so "can't … isn't" is no string).
            r"(?P<s>(?<!\w)(?:'[^'\n]*'|\"[^\"\n]*\")(?!\w))",
            r"(?P<uuid>[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})",
            r"(?P<email>(?<![\w.%+-])[\w.%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)",
            r"(?P<ts>\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)",
            # 0x…, or a run of 8 or more hex digits with a digit and a letter in it
            # (all digits is a number; all letters is more likely a word, like "deadbeef").
            rf"(?P<hex>{_NOT_ALNUM_BEFORE}(?:0[xX][0-9A-Fa-f]+|"
            rf"(?=[0-9A-Fa-f]*[0-9])(?=[0-9A-Fa-f]*[A-Fa-f])[0-9A-Fa-f]{{8,}}){_NOT_ALNUM_AFTER})",
            # 42, 3.14, 10.0.0.1:5432, 1,000; a unit after it stays (500ms → <n>ms).
            rf"(?P<n>{_NOT_ALNUM_BEFORE}\d+(?:[.,:]\d+)*)",
            r"(?P<space>\s+)",
        ]
    )
)
_PLACEHOLDERS = {"s": "'<s>'", "uuid": "<uuid>", "email": "<email>", "ts": "<ts>", "hex": "<hex>", "n": "<n>"}


def _placeholder(match: re.Match[str]) -> str:
    kind = match.lastgroup
    assert kind is not None
    return " " if kind == "space" else _PLACEHOLDERS[kind]


def normalise(message: str) -> str:
    """The message's first `MESSAGE_CHARS` characters with ids, numbers, times, quoted
    strings and e-mail addresses replaced by `<uuid>`, `<hex>`, `<n>`, `<ts>`, `'<s>'`
    and `<email>`, and runs of white space by one space."""
    return _VARIABLE.sub(_placeholder, message[:MESSAGE_CHARS]).strip()


def fingerprint(job_type: str, error_type: str | None, message: str | None) -> str:
    """A stable 16-hex-digit name for the way a job failed: its type, the error's type
    and the normalised message (the same in every process and release)."""
    text = "\x1f".join([job_type, error_type or "", normalise(message or "")])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DeadJob:
    """What grouping needs of a dead job."""

    id: uuid.UUID
    type: str
    error_type: str | None
    message: str | None
    finished_at: datetime | None


@dataclass
class DeadGroup:
    """Dead jobs that share a fingerprint, as found in one page of dead jobs."""

    fingerprint: str
    type: str
    error_type: str | None
    message_pattern: str
    sample_message: str | None
    count: int = 0
    first_finished_at: datetime | None = None
    last_finished_at: datetime | None = None
    sample_job_ids: list[uuid.UUID] = field(default_factory=list)

    def count_in(self, job: DeadJob) -> None:
        """Count `job` (of this group) in."""
        self.count += 1
        if len(self.sample_job_ids) < SAMPLE_IDS:
            self.sample_job_ids.append(job.id)
        if job.finished_at is not None:
            if self.first_finished_at is None or job.finished_at < self.first_finished_at:
                self.first_finished_at = job.finished_at
            if self.last_finished_at is None or job.finished_at > self.last_finished_at:
                self.last_finished_at = job.finished_at


class Grouper:
    """Gathers dead jobs, given newest first, into groups by fingerprint.

    Feed it in parts (`add`) to keep a caller's event loop free between them; a message
    seen before is not normalised again.
    """

    def __init__(self) -> None:
        self._groups: dict[str, DeadGroup] = {}
        self._keys: dict[tuple[str, str | None, str | None], str] = {}

    def key(self, job: DeadJob) -> str:
        """The job's fingerprint."""
        text = (job.type, job.error_type, job.message)
        found = self._keys.get(text)
        if found is None:
            if len(self._keys) > 100_000:
                self._keys.clear()
            found = self._keys[text] = fingerprint(*text)
        return found

    def add(self, jobs: Iterable[DeadJob]) -> None:
        """Count `jobs` into their groups."""
        for job in jobs:
            key = self.key(job)
            found = self._groups.get(key)
            if found is None:
                pattern = normalise(job.message or "")
                found = self._groups[key] = DeadGroup(key, job.type, job.error_type, pattern, job.message)
            found.count_in(job)

    def groups(self) -> list[DeadGroup]:
        """The groups: the largest first, then the one that failed last."""
        newest_first = sorted(self._groups.values(), key=lambda g: g.last_finished_at or _NEVER, reverse=True)
        return sorted(newest_first, key=lambda g: g.count, reverse=True)


def group(jobs: Iterable[DeadJob]) -> list[DeadGroup]:
    """Group dead jobs (given newest first) by fingerprint: the largest group first, then
    the one that failed last. Each group's sample message and ids are its newest."""
    grouper = Grouper()
    grouper.add(jobs)
    return grouper.groups()


def oldest_first(jobs: Iterable[DeadJob]) -> list[DeadJob]:
    """`jobs` sorted the longest dead first (one without a finish time first of all)."""
    return sorted(jobs, key=lambda j: (j.finished_at is not None, j.finished_at or _NEVER, j.id))
