"""The `jobq` command: migrate, create API keys, run everything locally."""

from __future__ import annotations

import argparse
import asyncio
import sys

from . import apikeys
from .errors import ConfigurationError
from .migrate import migrate_url
from .settings import CoreSettings, load


def _migrate(_: argparse.Namespace) -> int:
    settings = load(CoreSettings)
    applied = asyncio.run(migrate_url(settings.database_url.get_secret_value()))
    print(f"applied {len(applied)} migration(s)" if applied else "schema is up to date")
    return 0


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


def _run(args: argparse.Namespace) -> int:
    from .devrun import run

    return run(args)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="jobq", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_migrate)
    key = sub.add_parser("create-key", help="create an API key and print it")
    key.add_argument("--name", default="cli", help="a label for the key")
    key.add_argument("--scope", action="append", help="jobs:read, jobs:write or admin (repeatable; default admin)")
    key.set_defaults(func=_create_key)
    run = sub.add_parser("run", help="run the API and workers locally (what `make run` does)")
    run.add_argument("--data-dir", default=".jobq", help="where embedded servers keep data")
    run.add_argument("--host", default="127.0.0.1", help="the API's listen address")
    run.add_argument("--port", type=int, default=8000, help="the API's port (0: any free port)")
    run.add_argument("--workers", type=int, default=2, help="worker processes to run")
    run.set_defaults(func=_run)
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


if __name__ == "__main__":
    sys.exit(main())
