"""Locks name packages and versions, never a host: whatever registry is configured serves them."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_no_lock_file_names_a_host() -> None:
    # Tracked files and those still to be added (untracked, not ignored): a new lock is checked before its commit.
    locks = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.lock", "*lock.json"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert {"dashboard/package-lock.json", "tools/newman/package-lock.json"} <= set(locks)
    with_hosts = [
        f"{lock}:{n}"
        for lock in locks
        for n, line in enumerate((ROOT / lock).read_text().splitlines(), 1)
        if "://" in line
    ]
    assert with_hosts == [], "regenerate with `make lock`, `make locks`, `make dashboard-lock` or `make postman-lock`"
