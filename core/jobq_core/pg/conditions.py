"""SQL built for the filters a read has: each filter present is one condition, its values
numbered as they are added, so PostgreSQL plans the query asked and no catch-all of
`($1 IS NULL OR ...)` branches (jobq_core.pg.job_search, jobq_core.pg.audit)."""

from __future__ import annotations

from typing import Any


class Conditions:
    """SQL conditions with their arguments numbered as they are added."""

    def __init__(self) -> None:
        self.args: list[Any] = []
        self.conditions: list[str] = []

    def arg(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def where(self, template: str, *values: Any) -> None:
        """Add a condition; `{}` in `template` are the values' placeholders, in order."""
        self.conditions.append(template.format(*(self.arg(v) for v in values)))

    def clause(self, *more: str) -> str:
        conditions = [*self.conditions, *more]
        return ("WHERE " + " AND ".join(conditions)) if conditions else ""
