"""The commands a person on call reaches for, built on `Client`: submit, get, ls, wait, cancel,
retry, delete, queues, pause, resume, workers, schedules and tail.

They join core's `jobq` command through the `jobq.commands` entry point (`add_commands`),
and `python -m jobq_client` runs them where only the client is installed. Each takes
`--url` (else `JOBQ_API_URL`), the key from `JOBQ_API_KEY` (or `--key-file`), `--json`
and `--timeout`; `exits.MEANINGS` says what each exit status means.
"""

from __future__ import annotations

import argparse

from . import fleet, jobs, submit, tail
from .common import Subparsers, options
from .exits import Exit, epilog

__all__ = ["Exit", "add_commands", "main", "parser", "synopses"]


def add_commands(commands: Subparsers) -> str:
    """Add the client's commands to a command line (the `jobq.commands` entry point); return the
    exit statuses, for the end of its help."""
    submit.add(commands)
    jobs.add(commands)
    fleet.add(commands)
    tail.add(commands)
    return epilog()


def parser(prog: str = "python -m jobq_client") -> argparse.ArgumentParser:
    """The client's commands on a command line of their own."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.epilog = add_commands(p.add_subparsers(dest="command", required=True, metavar="COMMAND"))
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command (`python -m jobq_client`); its exit status."""
    args = parser().parse_args(argv)
    status: int = args.func(args)
    return status


def synopses(prog: str = "jobq") -> list[tuple[str, str]]:
    """Each command as `jobq NAME ARGS…` with its own options (every one also takes the shared
    ones: `--url`, `--key-file`, `--json`, `--timeout`), and what it does: the README's table."""
    commands = argparse.ArgumentParser(prog=prog).add_subparsers()
    add_commands(commands)
    shared = {action.dest for action in options()._actions}
    rows = []
    for choice in commands._choices_actions:
        words = [prog, choice.dest]
        for action in commands.choices[choice.dest]._actions:
            if action.dest in shared or isinstance(action, argparse._HelpAction):
                continue
            words.append(_usage(action))
        rows.append((" ".join(words), choice.help or ""))
    return rows


def _usage(action: argparse.Action) -> str:
    """One argument as a synopsis shows it: `ID…`, `[TYPE]`, `[--tag TAG]…`, `[--wait]`."""
    if not action.option_strings:
        name = str(action.metavar or action.dest.upper())
        return {"+": f"{name}…", "?": f"[{name}]"}.get(str(action.nargs), name)
    flag = action.option_strings[0]
    if action.nargs == 0:
        return f"[{flag}]"
    metavar = action.metavar or (f"{{{','.join(map(str, action.choices))}}}" if action.choices else action.dest.upper())
    repeat = "…" if isinstance(action, argparse._AppendAction) else ""
    return f"[{flag} {metavar}]{repeat}"
