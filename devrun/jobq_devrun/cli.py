"""The `run` subcommand of `jobq`, found through the `jobq.commands` entry point."""

from __future__ import annotations

import argparse


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `jobq run` to the command line."""
    run = commands.add_parser("run", help="run the API and workers locally (what `make run` does)")
    run.add_argument("--data-dir", default=".jobq", help="where embedded servers keep data")
    run.add_argument("--host", default="127.0.0.1", help="the API's listen address")
    run.add_argument("--port", type=int, default=8000, help="the API's port (0: any free port)")
    run.add_argument("--workers", type=int, default=2, help="worker processes to run")
    run.add_argument(
        "--arq", metavar="SETTINGS", help="run this ARQ app in the workers (its WorkerSettings, as `arq` names it)"
    )
    run.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from .runner import run  # the runner's imports are paid only by `jobq run`

    return run(args)
