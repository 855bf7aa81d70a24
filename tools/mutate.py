"""Mutation check: deliberate breakages the test suite must catch.

Each mutation in `tools/mutations.toml` replaces text that must occur exactly once in
one file, then runs only the tests named for it. It is *caught* when one of them
fails and *MISSED* when all pass. Everything runs in a scratch copy of the working
tree (uncommitted edits included), never in the checkout itself.

    python -m tools.mutate              # every mutation
    python -m tools.mutate --list       # what there is
    python -m tools.mutate --only NAME  # one (repeatable)
    python -m tools.mutate --passed J   # J: junit XML of a pytest run of this tree (make test's)
    python -m tools.mutate --jobs 1     # one mutation at a time (default: one per core, at most 2)

Before mutating, a baseline runs every named test unmutated: "caught" means nothing for
a test that fails anyway. With `--passed`, tests that passed in that run skip the
baseline; instead each node that caught a mutation is run unmutated afterwards (the
scratch copy could fail where the checkout passed), and one that fails makes its
mutation a BASELINE.

Exit status 0 when every mutation was caught; 1 when any was missed, no longer applies
(its text is not in its file exactly once), names a test that does not exist, or has
a test that already fails unmutated.

Mutations run side by side, each lane in a scratch copy of its own (a mutation edits
its copy's file while its tests run), longest first when the junit XML gives times.
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

ROOT = Path(__file__).resolve().parent.parent
MUTATIONS_FILE = Path(__file__).with_name("mutations.toml")
# Where the local packages' import roots sit; the venv's editable installs point at the
# checkout's copies of these, so the scratch copy's must come first on sys.path.
SOURCE_DIRS = ["core", "api", "worker", "operator", "devrun", "client"]
MODULES_IN_COPY = [
    "jobq_core",
    "jobq_api",
    "jobq_worker",
    "jobq_operator",
    "jobq_devrun",
    "jobq_client",
    "tests",
    "tools",
]
RUN_TIMEOUT_S = 900
# The suite itself runs on two processes (make test's pytest -n 2), so its tests already
# share the machine with one other; more lanes than cores would only make them slower.
DEFAULT_JOBS = max(1, min(2, os.cpu_count() or 1))
# The venv's interpreter, whatever ran this script: the tests start services with
# sys.executable, which must have the dependencies.
_VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(_VENV_PYTHON) if _VENV_PYTHON.exists() else sys.executable
PYTEST = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
_SUMMARY_LINE = re.compile(r"^(?:FAILED|ERROR) (\S+?)(?: - .*)?$", re.MULTILINE)


@dataclass(frozen=True)
class Edit:
    """Replace `find`, which must occur exactly once in the file, by `replace`."""

    find: str
    replace: str


@dataclass(frozen=True)
class Mutation:
    """One deliberate breakage and the pytest node ids that should catch it."""

    name: str
    file: str
    edits: tuple[Edit, ...]
    tests: tuple[str, ...]
    why: str


@dataclass
class Outcome:
    """What became of one mutation."""

    mutation: Mutation
    result: str  # caught, MISSED, STALE, NO-TEST, BASELINE, ERROR
    seconds: float = 0.0
    detail: str = ""
    caught_by: str = ""  # the node id that failed, when caught


def load(path: Path = MUTATIONS_FILE) -> list[Mutation]:
    """The mutations declared in `path`; a mutation has `find`/`replace` or a list of `edit` tables."""
    data = tomllib.loads(path.read_text())
    mutations = []
    for m in data["mutation"]:
        edits = [m] if "find" in m else m["edit"]
        mutations.append(
            Mutation(
                name=m["name"],
                file=m["file"],
                edits=tuple(Edit(e["find"], e["replace"]) for e in edits),
                tests=tuple(m["tests"]),
                why=m.get("why", ""),
            )
        )
    names = [m.name for m in mutations]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SystemExit(f"{path}: mutation names used twice: {', '.join(duplicates)}")
    return mutations


def apply(text: str, edits: Iterable[Edit]) -> str:
    """`text` with each edit made; ValueError naming the edit whose text is not there exactly once."""
    for edit in edits:
        count = text.count(edit.find)
        if count != 1:
            first_line = edit.find.strip().splitlines()[0] if edit.find.strip() else repr(edit.find)
            raise ValueError(f"found {count} times, expected once: {first_line!r}")
        text = text.replace(edit.find, edit.replace)
    return text


def covers(requested: str, node: str) -> bool:
    """Whether pytest node id `node` is `requested` or inside it (a file, a test's parametrizations)."""
    return node == requested or node.startswith((requested + "::", requested + "[", requested + "/"))


# -- what an earlier run passed ----------------------------------------------------------


def junit_case(node: str) -> tuple[str, str]:
    """The (classname, name) pytest's junit XML writes for node id `node`: the file as a dotted
    path without .py, then any classes; the test's name with its parameters."""
    path, _, rest = node.partition("::")
    names, bracket, params = rest.partition("[")
    *classes, name = [re.sub(r"\.py$", "", path.replace("/", ".")), *names.split("::")]
    return ".".join(classes), name + bracket + params


def passed_cases(junit: Path) -> set[tuple[str, str]]:
    """The (classname, name) of every test case that passed in a junit XML file: no failure, error
    or skip (a teardown error is added to its test's case; a case reported twice must pass twice)."""
    verdicts: dict[tuple[str, str], bool] = {}
    for case in ElementTree.parse(junit).iter("testcase"):  # noqa: S314 - our own pytest run's file
        key = (case.get("classname", ""), case.get("name", ""))
        passed = not any(child.tag in ("failure", "error", "skipped") for child in case)
        verdicts[key] = verdicts.get(key, True) and passed
    return {key for key, passed in verdicts.items() if passed}


def case_seconds(junit: Path) -> dict[tuple[str, str], float]:
    """The time pytest's junit XML gives each test case (setup, call and teardown together)."""
    seconds: dict[tuple[str, str], float] = {}
    for case in ElementTree.parse(junit).iter("testcase"):  # noqa: S314 - our own pytest run's file
        key = (case.get("classname", ""), case.get("name", ""))
        seconds[key] = seconds.get(key, 0.0) + float(case.get("time") or 0.0)
    return seconds


def longest_first(
    mutations: Sequence[Mutation], nodes: Iterable[str], seconds: dict[tuple[str, str], float]
) -> list[Mutation]:
    """`mutations` ordered by how long their tests took, longest first, so that no lane is left
    with a long one at the end while the others sit idle (ties keep the declared order)."""
    nodes = list(nodes)

    def cost(m: Mutation) -> float:
        return sum(seconds.get(junit_case(n), 0.0) for n in nodes if any(covers(t, n) for t in m.tests))

    return sorted(mutations, key=cost, reverse=True)


def known_to_pass(tests: Iterable[str], nodes: Iterable[str], passed: set[tuple[str, str]]) -> set[str]:
    """The test ids (files, tests, parametrizations) whose every collected node passed, at least one."""
    nodes = list(nodes)
    known = set()
    for test in tests:
        covered = [n for n in nodes if covers(test, n)]
        if covered and all(junit_case(n) in passed for n in covered):
            known.add(test)
    return known


# -- the scratch copy ---------------------------------------------------------------------


def git(args: Sequence[str]) -> str:
    """The output of a read-only git command in the checkout."""
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout


def copy_tree(dest: Path) -> None:
    """Copy the working tree's tracked and untracked-but-not-ignored files, as they are now, to `dest`."""
    listing = git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"])
    for rel in sorted(set(filter(None, listing.split("\0")))):
        src = ROOT / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)


def copy_env(copy: Path) -> dict[str, str]:
    """The environment for pytest in `copy`; its worker and API subprocesses inherit it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQ_")}
    # PYTHONPATH entries precede the site-packages .pth entries of the editable installs.
    env["PYTHONPATH"] = os.pathsep.join([*(str(copy / d) for d in SOURCE_DIRS), str(copy)])
    # A file restored after a mutation may keep its size and mtime second; a cached .pyc
    # of the mutated text would then be taken for current. So no bytecode caches at all.
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def check_imports(copy: Path, env: dict[str, str]) -> None:
    """Fail unless every local package imports from `copy`, not from the checkout."""
    code = "import importlib, sys\nfor m in sys.argv[1:]: print(m, importlib.import_module(m).__file__)"
    out = subprocess.run(
        [PYTHON, "-c", code, *MODULES_IN_COPY], cwd=copy, env=env, check=True, capture_output=True, text=True
    ).stdout
    wrong = [line for line in out.splitlines() if not Path(line.split(" ", 1)[1]).is_relative_to(copy)]
    if wrong:
        raise SystemExit("the scratch copy does not import its own code:\n" + "\n".join(wrong))


# -- pytest ---------------------------------------------------------------------------------


def pytest(copy: Path, env: dict[str, str], args: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run pytest in `copy`, output captured, with temporary folders of its own.

    pytest on its default basetemp resets /tmp/pytest-of-<user> to 0700, which would lock
    PostgreSQL (another user) out of the folders of a test run going on beside this one.
    """
    return subprocess.run(
        [*PYTEST, f"--basetemp={scratch_tmp(copy)}", *args],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )


def scratch_tmp(copy: Path) -> Path:
    """The pytest basetemp of the runs in `copy`: beside it, removed with it."""
    return copy.with_name(copy.name + "-pytest")


def failed_nodes(output: str) -> list[str]:
    """The node ids pytest's short summary names as FAILED or ERROR."""
    return _SUMMARY_LINE.findall(output)


def run_unmutated(
    copy: Path, env: dict[str, str], label: str, tests: Sequence[str], workers: int = 1
) -> tuple[list[str], int | None]:
    """Run `tests` unmutated and without -x, so that each failure is known, printing under `label`
    what failed; the failing node ids, and pytest's exit status if it could not run them (else None).
    With `workers` > 1 they run on that many processes, a file to each (as make test does)."""
    print(f"{label}: {len(tests)} test id(s) unmutated ...", flush=True)
    started = time.monotonic()
    spread = ["-n", str(workers), "--dist", "loadfile"] if workers > 1 else []
    run = pytest(copy, env, [*spread, "-rfE", *tests])
    output = run.stdout + run.stderr
    print(f"{label}: {tail(output, 1)} ({time.monotonic() - started:.0f}s)", flush=True)
    broken = failed_nodes(output)
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            print(f"{label}: {line}", flush=True)
    if run.returncode not in (0, 1) or (run.returncode == 1 and not broken):
        print(tail(output, 40), flush=True)
        return broken, run.returncode
    return broken, None


def tail(output: str, lines: int = 25) -> str:
    """The last `lines` lines of `output`, where pytest puts its verdict."""
    return "\n".join(output.rstrip().splitlines()[-lines:])


def collect(copy: Path, env: dict[str, str], tests: Iterable[str]) -> tuple[set[str], str]:
    """Every node id in the files `tests` live in, and pytest's output (collection errors show there)."""
    files = sorted({t.split("::")[0] for t in tests})
    run = pytest(copy, env, ["--collect-only", *files])
    nodes = {line for line in run.stdout.splitlines() if "::" in line and " " not in line}
    return nodes, run.stdout + run.stderr


# -- the run --------------------------------------------------------------------------------


def run_mutation(copy: Path, env: dict[str, str], mutation: Mutation) -> Outcome:
    """Apply `mutation` in `copy`, run its tests with -x, put the file back."""
    path = copy / mutation.file
    original = path.read_text()
    path.write_text(apply(original, mutation.edits))
    started = time.monotonic()
    try:
        run = pytest(copy, env, ["-x", "-rfE", *mutation.tests])
    except subprocess.TimeoutExpired:
        return Outcome(mutation, "ERROR", time.monotonic() - started, f"pytest ran over {RUN_TIMEOUT_S}s")
    finally:
        path.write_text(original)
    seconds = time.monotonic() - started
    output = run.stdout + run.stderr
    if run.returncode == 0:
        return Outcome(mutation, "MISSED", seconds, tail(output, 1))
    if run.returncode == 1:
        by = failed_nodes(output)[:1]
        return Outcome(mutation, "caught", seconds, "by " + (by[0] if by else "?"), by[0] if by else "")
    # 2-5: interrupted (say a collection error), internal error, usage, nothing collected.
    # None of those is a test noticing the breakage.
    return Outcome(mutation, "ERROR", seconds, f"pytest exit {run.returncode}:\n{tail(output)}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.mutate", description=__doc__.split("\n\n")[0])
    parser.add_argument("--list", action="store_true", help="list the mutations and their tests, run nothing")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only this mutation (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy and print its path")
    parser.add_argument("--mutations", type=Path, default=MUTATIONS_FILE, help="the list (default: %(default)s)")
    parser.add_argument(
        "--passed",
        type=Path,
        metavar="JUNIT_XML",
        help="junit XML of a pytest run of this same tree: its passed tests skip the baseline",
    )
    parser.add_argument(
        "--jobs", type=int, default=DEFAULT_JOBS, help="mutations run side by side (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")

    mutations = load(args.mutations)
    if args.only:
        unknown = sorted(set(args.only) - {m.name for m in mutations})
        if unknown:
            parser.error(f"no such mutation: {', '.join(unknown)} (see --list)")
        mutations = [m for m in mutations if m.name in args.only]
    if args.list:
        for m in mutations:
            print(f"{m.name}  ({m.file})\n    {m.why}")
            print("".join(f"    - {t}\n" for t in m.tests), end="")
        return 0

    passed = passed_cases(args.passed) if args.passed else None
    seconds = case_seconds(args.passed) if args.passed else {}
    scratch = Path(tempfile.mkdtemp(prefix="jobq-mutate-"))
    try:
        return check(scratch, mutations, passed, jobs=args.jobs, seconds=seconds)
    finally:
        if args.keep:
            print(f"scratch copies kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def check(
    scratch: Path,
    mutations: list[Mutation],
    passed: set[tuple[str, str]] | None = None,
    jobs: int = 1,
    seconds: dict[tuple[str, str], float] | None = None,
) -> int:
    """Copy, verify the copies, run the baseline, then each mutation; print the table.

    `scratch`: an empty folder for the `jobs` copies, one a lane. `passed`: the junit
    cases an earlier run of this tree passed (`passed_cases`), which skip the baseline;
    the nodes among them that catch a mutation are run unmutated after. `seconds`: the
    times of that run's cases (`case_seconds`), which put the longest mutations first.
    """
    total_started = time.monotonic()
    # Source edits in the checkout are copied too; say so, since a half-done edit or
    # someone's hand-made mutation there would decide what the baseline means.
    changed = git(["diff", "--name-only", "HEAD", "--", *SOURCE_DIRS]).split()
    if changed:
        print(f"note: uncommitted source changes copied: {', '.join(changed)}", flush=True)
    lanes = [scratch / f"lane-{i}" for i in range(jobs)]
    envs = {}
    for lane in lanes:
        copy_tree(lane)
        envs[lane] = copy_env(lane)
        check_imports(lane, envs[lane])
    copy, env = lanes[0], envs[lanes[0]]
    print(f"scratch copies: {', '.join(map(str, lanes))}", flush=True)

    outcomes: dict[str, Outcome] = {}
    # A mutation whose text is gone would otherwise pass silently for ever.
    for m in mutations:
        try:
            apply((copy / m.file).read_text(), m.edits)
        except (OSError, ValueError) as exc:
            outcomes[m.name] = Outcome(m, "STALE", detail=f"{m.file}: {exc}")

    # A test that does not exist cannot catch anything; pytest would refuse the whole run.
    pending = [m for m in mutations if m.name not in outcomes]
    nodes, collect_output = collect(copy, env, [t for m in pending for t in m.tests])
    for m in pending:
        missing = [t for t in m.tests if not any(covers(t, n) for n in nodes)]
        if missing:
            errors = [line for line in collect_output.splitlines() if line.startswith("ERROR")]
            outcomes[m.name] = Outcome(m, "NO-TEST", detail="not collected: " + ", ".join(missing + errors))

    # The baseline: every test still wanted, once, unmutated and without -x, so that each
    # failure is known. "Caught" means nothing for a test that fails anyway.
    pending = [m for m in mutations if m.name not in outcomes]
    wanted = list(dict.fromkeys(t for m in pending for t in m.tests))
    known = known_to_pass(wanted, nodes, passed) if passed is not None else set()
    if known:
        print(f"baseline: {len(known)} of {len(wanted)} test id(s) passed in the run given, not run again", flush=True)
        wanted = [t for t in wanted if t not in known]
    if wanted:
        broken, exit_status = run_unmutated(copy, env, "baseline", wanted, workers=jobs)
        if exit_status is not None:
            raise SystemExit(f"the baseline run failed (pytest exit {exit_status}); nothing was mutated")
        for m in pending:
            failing = [n for n in broken if any(covers(t, n) or covers(n, t) for t in m.tests)]
            if failing:
                outcomes[m.name] = Outcome(m, "BASELINE", detail="fails unmutated: " + ", ".join(failing))

    to_run = longest_first([m for m in mutations if m.name not in outcomes], nodes, seconds or {})
    for outcome in run_side_by_side(lanes, envs, to_run):
        outcomes[outcome.mutation.name] = outcome
        print(f"{outcome.mutation.name} ... {outcome.result} ({outcome.seconds:.0f}s)", flush=True)

    if known:
        caught = [o for o in outcomes.values() if o.result == "caught"]
        check_catchers(copy, env, caught, wanted, workers=jobs)

    width = max(len(m.name) for m in mutations)
    print(f"\n{'mutation':<{width}}  {'result':<8}  {'seconds':>7}  detail")
    for m in mutations:
        o = outcomes[m.name]
        detail = o.detail.replace("\n", "\n" + " " * (width + 22))
        print(f"{m.name:<{width}}  {o.result:<8}  {o.seconds:>7.1f}  {detail}")
    print(f"\ntotal {time.monotonic() - total_started:.0f}s")
    return 0 if all(o.result == "caught" for o in outcomes.values()) else 1


def run_side_by_side(
    lanes: Sequence[Path], envs: dict[Path, dict[str, str]], mutations: Sequence[Mutation]
) -> Iterable[Outcome]:
    """Run `mutations` in order, one a lane at a time in that lane's copy; their outcomes as they end."""
    free: queue.Queue[Path] = queue.Queue()
    for lane in lanes:
        free.put(lane)

    def in_a_free_lane(mutation: Mutation) -> Outcome:
        lane = free.get()
        try:
            return run_mutation(lane, envs[lane], mutation)
        finally:
            free.put(lane)

    # A task waits for a lane only after one was taken, so they start in the order given.
    with ThreadPoolExecutor(max_workers=len(lanes)) as pool:
        futures = [pool.submit(in_a_free_lane, m) for m in mutations]
        try:
            for future in as_completed(futures):
                yield future.result()
        except BaseException:
            # Ctrl-C or a failure: the mutations not yet started are not started at all.
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def check_catchers(
    copy: Path, env: dict[str, str], caught: list[Outcome], baseline_ran: list[str], workers: int = 1
) -> None:
    """Run unmutated each node that caught a mutation and had no baseline here; a mutation
    whose catcher fails anyway becomes a BASELINE (an ERROR if pytest cannot run them)."""
    unchecked: dict[str, list[str]] = {}  # mutation name -> what to run unmutated
    for o in caught:
        catchers = [o.caught_by] if o.caught_by else list(o.mutation.tests)  # "?": all its tests
        catchers = [n for n in catchers if not any(covers(t, n) for t in baseline_ran)]
        if catchers:
            unchecked[o.mutation.name] = catchers
    nodes = list(dict.fromkeys(n for catchers in unchecked.values() for n in catchers))
    if not nodes:
        return
    broken, exit_status = run_unmutated(copy, env, "after", nodes, workers=workers)
    for o in caught:
        catchers = unchecked.get(o.mutation.name, [])
        failing = [n for n in broken if any(covers(c, n) for c in catchers)]
        if catchers and exit_status is not None:
            o.result, o.detail = "ERROR", f"the unmutated run of its catcher: pytest exit {exit_status}"
        elif failing:
            o.result, o.detail = "BASELINE", "fails unmutated: " + ", ".join(failing)


if __name__ == "__main__":
    sys.exit(main())
