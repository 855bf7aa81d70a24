"""One virtual environment per comparison system, built with uv from its pinned lock.

Celery 5.7's Redis transport needs redis-py >= 6.1 while ARQ pins redis-py < 6, so the
systems cannot share an environment. Each lives in a cache folder outside the clone,
keyed by a hash of its lock and of the Python that runs it, so a warm run reuses it:
``${XDG_CACHE_HOME:-~/.cache}/jobq/bench-venvs/<system>-<hash>``.

    python -m bench.venvs            # build (or find) every system's venv, print the paths
    python -m bench.venvs --lock     # re-resolve bench/requirements/<system>.lock from the .in files
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = Path(__file__).parent / "requirements"
SYSTEMS_WITH_VENVS = ("arq", "celery", "saq")
LOCK_PYTHON = "3.11"
_COMPLETE = ".bench-complete"


def cache_root() -> Path:
    """Where the venvs are kept: under XDG_CACHE_HOME (default ~/.cache), never in the clone."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "jobq" / "bench-venvs"


def uv() -> str:
    """The uv binary: beside this Python (the project venv has it), else on PATH."""
    beside = Path(sys.executable).parent / "uv"
    if beside.exists():
        return str(beside)
    found = shutil.which("uv")
    if not found:
        raise RuntimeError("uv not found: run `make venv` (the project venv carries uv)")
    return found


def lock_path(system: str) -> Path:
    """The pinned lock of `system`."""
    path = REQUIREMENTS / f"{system}.lock"
    if not path.exists():
        raise RuntimeError(f"no lock for benchmark system {system!r}: expected {path}")
    return path


def venv_dir(system: str) -> Path:
    """The cache folder of `system`'s venv: its name carries the hash of lock and Python."""
    digest = hashlib.sha256(lock_path(system).read_bytes())
    digest.update(f"{sys.version_info[:3]}:{Path(sys.executable).resolve()}".encode())
    return cache_root() / f"{system}-{digest.hexdigest()[:16]}"


def python_of(system: str) -> str:
    """The Python interpreter that runs `system`, building its venv first if needed."""
    return str(ensure(system) / "bin" / "python")


def ensure(system: str) -> Path:
    """Build `system`'s venv from its lock unless a complete one is cached; return its folder."""
    target = venv_dir(system)
    if (target / _COMPLETE).exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{target.name}.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)  # another run may be building the same venv
        if (target / _COMPLETE).exists():
            return target
        shutil.rmtree(target, ignore_errors=True)  # a half-built one from an interrupted run
        base_python = str(Path(sys.executable).resolve())
        subprocess.run([uv(), "venv", "--quiet", "--python", base_python, str(target)], check=True)
        python = str(target / "bin" / "python")
        subprocess.run(
            [uv(), "pip", "install", "--quiet", "--python", python, "-r", str(lock_path(system))], check=True
        )
        (target / _COMPLETE).write_text(lock_path(system).name + "\n")
    return target


def relock(system: str) -> None:
    """Re-resolve `system`'s lock from its .in file (no index URL in the output)."""
    subprocess.run(
        [
            uv(),
            "pip",
            "compile",
            "--quiet",
            "--python-version",
            LOCK_PYTHON,
            str(REQUIREMENTS / f"{system}.in"),
            "-o",
            str(REQUIREMENTS / f"{system}.lock"),
            "--no-emit-index-url",
            "--no-emit-find-links",
            "--custom-compile-command",
            "python -m bench.venvs --lock",
        ],
        check=True,
    )


def main() -> None:
    """Build every venv (or re-lock with --lock) and print where they are."""
    parser = argparse.ArgumentParser(description="Build the benchmark systems' virtual environments.")
    parser.add_argument("--lock", action="store_true", help="re-resolve the locks instead of building")
    args = parser.parse_args()
    for system in SYSTEMS_WITH_VENVS:
        if args.lock:
            relock(system)
            print(f"{system}: {lock_path(system)}")
        else:
            print(f"{system}: {ensure(system)}")


if __name__ == "__main__":
    main()
