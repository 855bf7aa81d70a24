"""The `jobq` command: migrate, create API keys, and the subcommands other installed
jobq packages add through the `jobq.commands` entry point (`jobq run` comes with
jobq-devrun, which the images do not install; submit, ls, wait, tail and the others
with jobq-client)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from importlib.metadata import entry_points

from jobq_core.errors import ConfigurationError
from jobq_core.model.backoff import Reconnect
from jobq_core.pg import apikeys
from jobq_core.pg.db import CONNECTION_ERRORS
from jobq_core.pg.migrate import migrate_url
from jobq_core.settings import CoreSettings, load


def _migrate(args: argparse.Namespace) -> int:
    settings = load(CoreSettings)
    url = settings.database_url.get_secret_value()
    applied = asyncio.run(_migrate_when_up(url, args.wait_s))
    print(f"applied {len(applied)} migration(s)" if applied else "schema is up to date")
    return 0


async def _migrate_when_up(url: str, wait_s: float) -> list[int]:
    """Migrate, retrying for up to `wait_s` while PostgreSQL refuses connections (a server
    started beside the migration, as the chart's bundled one is)."""
    deadline = time.monotonic() + wait_s
    waits = Reconnect()
    while True:
        try:
            return await migrate_url(url)
        except CONNECTION_ERRORS as exc:
            if time.monotonic() >= deadline:
                raise
            wait = waits.next()
            print(f"jobq: PostgreSQL unreachable ({type(exc).__name__}); retrying in {wait:.1f}s", file=sys.stderr)
            await asyncio.sleep(wait)


def _create_key(args: argparse.Namespace) -> int:
    import asyncpg

    scopes = apikeys.parse_scopes(args.scope or ["admin"])
    settings = load(CoreSettings)

    async def create() -> str:
        conn = await asyncpg.connect(settings.database_url.get_secret_value())
        try:
            return await apikeys.create(conn, args.name, scopes)
        finally:
            await conn.close()

    print(asyncio.run(create()))
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="jobq", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    migrate = sub.add_parser("migrate", help="apply database migrations")
    migrate.add_argument(
        "--wait-s",
        type=float,
        default=0.0,
        help="retry this many seconds while PostgreSQL is not reachable (default 0)",
    )
    migrate.set_defaults(func=_migrate)
    key = sub.add_parser("create-key", help="create an API key and print it")
    key.add_argument("--name", default="cli", help="a label for the key")
    key.add_argument("--scope", action="append", help="jobs:read, jobs:write or admin (repeatable; default admin)")
    key.set_defaults(func=_create_key)
    # An entry point is a function that adds its commands to `sub`; what text it returns
    # (the client's exit statuses) ends `jobq --help`.
    epilogs = [command.load()(sub) for command in entry_points(group="jobq.commands")]
    p.epilog = "\n\n".join(text for text in epilogs if text) or None
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `jobq` command."""
    args = parser().parse_args(argv)
    try:
        result: int = args.func(args)
        return result
    except (ConfigurationError, ValueError) as exc:
        print(f"jobq: {exc}", file=sys.stderr)
        return 2
    except CONNECTION_ERRORS as exc:  # migrate and create-key talk only to PostgreSQL
        print(f"jobq: cannot reach PostgreSQL ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
