"""What every command shares: its options, its client, its output, and how its errors end it."""

from __future__ import annotations

import argparse
import functools
import logging
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..client import Client
from ..errors import ConfigurationError, JobqError
from ..names import API_KEY_ENV, API_URL_ENV, DEFAULT_API_URL
from ..retry import RetryPolicy
from . import output
from .exits import Exit, error_lines, exit_for

if TYPE_CHECKING:
    from typing import TypeAlias

    Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Subparsers = argparse._SubParsersAction
"""What `add_subparsers` returns, which each command is added to."""

PROG = "jobq"


class UsageError(Exception):
    """The command cannot run as given (an argument or a file it names is unusable); its text says why."""


def options() -> argparse.ArgumentParser:
    """The options every command takes (a parent parser)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("connection and output")
    group.add_argument("--url", metavar="URL", help=f"the API's URL (default: ${API_URL_ENV}, else {DEFAULT_API_URL})")
    group.add_argument(
        "--key-file",
        metavar="FILE",
        type=Path,
        help=f"read the API key from FILE instead of ${API_KEY_ENV} (the key is never taken as an argument)",
    )
    group.add_argument("--json", action="store_true", help="print the API's JSON instead of tables, for scripts")
    group.add_argument(
        "--timeout",
        metavar="S",
        type=positive_seconds,
        help="give up after S seconds: the wait, for wait and submit --wait (exit 7); else each request, "
        "its retries included",
    )
    return common


def add_parser(sub: Subparsers, name: str, help: str, **kwargs: Any) -> argparse.ArgumentParser:
    """A command's parser, with the shared options."""
    return sub.add_parser(
        name,
        help=help,
        description=kwargs.pop("description", help[0].upper() + help[1:] + "."),
        parents=[options()],
        epilog="Exit statuses: --help without a command lists them.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        **kwargs,
    )


def positive_seconds(text: str) -> float:
    """An argument that is a number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text}")
    return value


def when(text: str) -> datetime:
    """An argument that is a time in ISO 8601 (`2026-05-01T09:00:00Z`); without an offset, local time."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.astimezone()


def read_text(source: str, what: str) -> str:
    """The text of `source`: `-` for stdin, else a file's path."""
    if source == "-":
        return sys.stdin.read()
    try:
        return Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{what}: cannot read {source}: {getattr(exc, 'strerror', None) or exc}") from None


class Context:
    """One run of a command: its arguments, its client (made when first needed) and its streams."""

    def __init__(self, args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.args = args
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._client: Client | None = None

    @property
    def json(self) -> bool:
        """Machine output asked for."""
        return bool(self.args.json)

    @property
    def timeout(self) -> float | None:
        """`--timeout`, when given."""
        value: float | None = self.args.timeout
        return value

    def client(self, *, deadline_is_the_wait: bool = False) -> Client:
        """The client for this command, from `--url`, the key and `--timeout`.

        With `deadline_is_the_wait`, `--timeout` bounds the wait (the caller's) and requests keep
        the client's own timeouts; otherwise it bounds each request and its retries.
        """
        if self._client is None:
            timeout = None if deadline_is_the_wait else self.timeout
            retry = None if timeout is None else RetryPolicy(total_s=timeout)
            self._client = Client(self.args.url or None, api_key=self._key(), timeout=timeout, retry=retry)
        return self._client

    def _key(self) -> str:
        path: Path | None = self.args.key_file
        if path is None:
            key = os.environ.get(API_KEY_ENV, "")
            if not key:
                raise ConfigurationError(f"no API key: set {API_KEY_ENV} (`jobq run` prints it) or pass --key-file")
            return key
        try:
            key = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(
                f"cannot read --key-file {path}: {getattr(exc, 'strerror', None) or exc}"
            ) from None
        if not key:
            raise ConfigurationError(f"--key-file {path} is empty")
        return key

    def print(self, text: str = "") -> None:
        """A line of the command's output (flushed: a pipe reading `tail` sees each line as it comes)."""
        print(text, file=self.out, flush=True)

    def emit(self, value: Any) -> None:
        """The command's output as one JSON document."""
        self.print(output.document(value))

    def result(self, value: Any, text: str) -> None:
        """The command's result: `value` as JSON with `--json`, else `text`."""
        if self.json:
            self.emit(value)
        else:
            self.print(text)

    def lines(self, lines: list[str]) -> None:
        """Lines of output."""
        for text in lines:
            self.print(text)

    def table(self, header: list[str], rows: list[list[str]], *, right: tuple[int, ...] = (), none: str) -> None:
        """A table, cut to the terminal's width when the output is one; `none` on stderr when it has no row."""
        if not rows:
            self.note(none)
            return
        self.lines(output.table(header, rows, right=right, width=output.terminal_width(self.out)))

    def note(self, text: str) -> None:
        """A line on stderr, for people: errors, warnings, what is going on."""
        print(f"{PROG}: {text}", file=self.err, flush=True)

    def close(self) -> None:
        """Close the client, if one was made."""
        if self._client is not None:
            self._client.close()


def command(run: Callable[[Context], int]) -> Callable[[argparse.Namespace], int]:
    """A command as argparse calls it: errors become their exit status and a line on stderr, never a traceback."""

    @functools.wraps(run)
    def main(args: argparse.Namespace) -> int:
        ctx = Context(args)
        _log_to(ctx.err)
        try:
            return int(run(ctx))
        except JobqError as exc:
            for text in error_lines(exc):
                ctx.note(text)
            return exit_for(exc)
        except UsageError as exc:
            ctx.note(str(exc))
            return Exit.USAGE
        except KeyboardInterrupt:
            ctx.note("interrupted")
            return Exit.INTERRUPTED
        except BrokenPipeError:
            # The reader left (`jobq ls | head`): say nothing more, and let the exit flush go nowhere.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return Exit.OK
        finally:
            ctx.close()

    return main


def _log_to(stream: TextIO) -> None:
    """The client's log lines (a retry, a stream resumed) on stderr, as the command's own notes."""
    log = logging.getLogger("jobq_client")
    if not log.handlers:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(logging.Formatter(f"{PROG}: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
