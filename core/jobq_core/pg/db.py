"""PostgreSQL at the edge: the pool, the named queries, and driver errors translated.

SQL lives in ``sql/*.sql``, one file per table; :data:`Q` maps each ``-- name:`` to its
text, across the files (a name may appear once).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

import asyncpg
import orjson

from jobq_core.errors import DatabaseUnavailable, SchemaNotMigrated

# Errors that mean "the database is not there right now", as opposed to a bug.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    TimeoutError,
    # Under uvloop, the first use of a pooled connection that a server crash killed
    # raises this ("cannot switch to state 12; another operation (2) is in progress")
    # rather than a connection error; the pool then replaces the connection.
    asyncpg.InternalClientError,
)

_NAME_LINE = re.compile(r"^-- name: (\w+)\s*$", re.MULTILINE)


def load_queries(text: str) -> dict[str, str]:
    """Split a `.sql` file into its named queries."""
    parts = _NAME_LINE.split(text)
    # parts: [preamble, name1, body1, name2, body2, ...]
    return {name: body.strip() for name, body in zip(parts[1::2], parts[2::2], strict=True)}


def _load_all() -> dict[str, str]:
    queries: dict[str, str] = {}
    for path in sorted(resources.files(__package__).joinpath("sql").iterdir(), key=lambda p: p.name):
        if path.name.endswith(".sql"):
            for name, body in load_queries(path.read_text(encoding="utf-8")).items():
                if name in queries:
                    raise ValueError(f"query {name!r} is named twice ({path.name})")
                queries[name] = body
    return queries


Q: dict[str, str] = _load_all()


def _encode_json(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=_encode_json, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Skip asyncpg's per-release reset query (RESET ALL, UNLISTEN *, …).

    jobq keeps no session state on pooled connections: its settings are
    transaction-local, and LISTEN and advisory locks live on dedicated connections. The
    default reset costs a round trip on every release, about a tenth of a worker's time.
    asyncpg still rolls back an open transaction before this is called.
    """


async def create_pool(dsn: str, *, size: int = 10) -> asyncpg.Pool:
    """A connection pool that encodes jsonb with orjson.

    It opens connections lazily (min_size=0), so a process starts while PostgreSQL is
    still down and recovers when it comes back; each query then raises
    :class:`DatabaseUnavailable` until it does.
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=0,
        max_size=size,
        init=_init_connection,
        reset=_keep_session,
        command_timeout=30,
        # PgBouncer in transaction mode cannot keep prepared statements across
        # transactions; asyncpg's statement cache stays on because jobq talks to
        # PostgreSQL directly.
    )
    assert pool is not None
    return pool


async def warm_up(pool: asyncpg.Pool, size: int, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
    """Open `size` connections and prepare `statements` on each, best effort.

    The pool opens connections lazily, so without this the first jobs after a start
    each pay a connection, its codec set-up and a statement preparation (tens of
    milliseconds, which showed as the p99 of the pickup benchmark). Each statement must change nothing when run
    with its given arguments. PostgreSQL being down is not an error here.
    """

    async def one() -> None:
        with contextlib.suppress(*CONNECTION_ERRORS, asyncpg.PostgresError):
            async with pool.acquire() as conn:
                for query, args in statements:
                    await conn.fetch(query, *args)
                await asyncio.sleep(0.05)  # hold it, so the others get connections of their own

    await asyncio.gather(*(one() for _ in range(size)))


@asynccontextmanager
async def unavailable_as_error() -> AsyncIterator[None]:
    """Turn a lost or refused database connection into :class:`DatabaseUnavailable`, and a
    database without jobq's tables (a process started before its migration) into
    :class:`SchemaNotMigrated`."""
    try:
        yield
    except CONNECTION_ERRORS as exc:
        raise DatabaseUnavailable(type(exc).__name__) from exc
    except asyncpg.UndefinedTableError as exc:
        raise SchemaNotMigrated(
            "the database schema is not migrated yet: run `jobq migrate` (the chart's migration Job does)"
        ) from exc
