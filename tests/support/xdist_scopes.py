"""How `pytest -n 2 --dist loadfile` (make test) splits the suite between its processes.

The node tests share one machine-wide node, one module at a time (tests/cluster's lock):
two of their files on the two processes would leave one process waiting minutes for the
lock, doing nothing. So they go to one process as one unit; every other file is a unit
of its own, as loadfile has it.
"""

from __future__ import annotations

import pytest

SERIAL_FOLDERS = ("tests/cluster/",)


def xdist_scope(nodeid: str) -> str:
    """The unit of work a process is handed: a test's file, or its folder when that is one of
    SERIAL_FOLDERS."""
    folder = next((f for f in SERIAL_FOLDERS if nodeid.startswith(f)), None)
    return folder or nodeid.split("::", 1)[0]


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """`--dist loadfile` scoped by `xdist_scope`; xdist's own scheduler for other modes."""
    if config.getoption("dist", None) != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SerialFoldersScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_scope(nodeid)

    return SerialFoldersScheduling(config, log)  # type: ignore[arg-type]
