"""What the chart's linters are told: kube-score.toml and checkov.toml, each exception with its reason."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Finding:
    """One thing a linter found: in which render, on which object, by which check."""

    tool: str
    render: str
    kind: str
    name: str
    component: str
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.tool} [{self.render}] {self.kind}/{self.name}: {self.check}: {self.message}"


@dataclass
class Ignore:
    """A check the chart does not meet on purpose, limited to some components or renders when those are given."""

    check: str
    reason: str
    components: tuple[str, ...] = ()
    renders: tuple[str, ...] = ()
    used: bool = False

    def matches(self, finding: Finding) -> bool:
        """Whether this ignore covers `finding`."""
        return (
            finding.check == self.check
            and (not self.components or finding.component in self.components)
            and (not self.renders or finding.render in self.renders)
        )

    def __str__(self) -> str:
        scope = [f"components {', '.join(self.components)}"] if self.components else []
        scope += [f"renders {', '.join(self.renders)}"] if self.renders else []
        return self.check + (f" ({'; '.join(scope)})" if scope else "")


@dataclass
class ToolConfig:
    """One tool's settings file: the flags it runs with and the checks it ignores."""

    path: Path
    flags: list[str] = field(default_factory=list)
    ignores: list[Ignore] = field(default_factory=list)

    def keep(self, findings: list[Finding]) -> list[Finding]:
        """The findings no ignore covers; marks the ignores that covered one as used."""
        kept = []
        for finding in findings:
            covering = [ignore for ignore in self.ignores if ignore.matches(finding)]
            for ignore in covering:
                ignore.used = True
            if not covering:
                kept.append(finding)
        return kept

    def unused(self) -> list[Finding]:
        """A finding for each ignore that covered nothing: the chart meets that check now, or the ignore is wrong."""
        return [
            Finding("chartlint", "-", "config", self.path.name, "", "unused-ignore", f"{ignore} matches no finding")
            for ignore in self.ignores
            if not ignore.used
        ]


class ConfigError(Exception):
    """A linter's settings file is not what tools/chartlint reads."""


_IGNORE_KEYS = {"check", "reason", "components", "renders"}
_FLAG_KEYS = {"flag", "reason"}


def _strings(entry: dict[str, object], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: `{key}` must be a list of names")
    return tuple(value)


def _reason(entry: dict[str, object], where: str) -> str:
    reason = entry.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(f"{where}: every exception needs a `reason` saying why it does not apply")
    return reason


def load(path: Path) -> ToolConfig:
    """Read a tool's settings: `enable` (optional checks on), `[[flag]]`s and `[[ignore]]`s, each with a reason."""
    data = tomllib.loads(path.read_text())
    unknown = set(data) - {"enable", "flag", "ignore"}
    if unknown:
        raise ConfigError(f"{path.name}: unknown keys {sorted(unknown)}")
    config = ToolConfig(path)
    for check in _strings(data, "enable", path.name):
        config.flags += ["--enable-optional-test", check]
    for number, entry in enumerate(data.get("flag", []), start=1):
        where = f"{path.name} [[flag]] {number}"
        if set(entry) - _FLAG_KEYS or not isinstance(entry.get("flag"), str):
            raise ConfigError(f"{where}: needs `flag` and `reason`, nothing else")
        _reason(entry, where)
        config.flags.append(entry["flag"])
    for number, entry in enumerate(data.get("ignore", []), start=1):
        where = f"{path.name} [[ignore]] {number}"
        if set(entry) - _IGNORE_KEYS or not isinstance(entry.get("check"), str):
            raise ConfigError(f"{where}: needs `check` and `reason`, optionally `components` and `renders`")
        config.ignores.append(
            Ignore(
                check=entry["check"],
                reason=_reason(entry, where),
                components=_strings(entry, "components", where),
                renders=_strings(entry, "renders", where),
            )
        )
    return config
