"""The mutation check's own parsing (`pytest tools/test_mutate.py`; no servers, under a second)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

from tools import mutate


def test_the_list_loads_with_unique_names_and_tests_for_each() -> None:
    mutations = mutate.load()

    assert mutations
    assert all(m.tests and m.edits and m.why for m in mutations)
    assert all((mutate.ROOT / m.file).is_file() for m in mutations)


def test_find_or_a_list_of_edits_both_load(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text(
        "[[mutation]]\nname = 'one'\nfile = 'f'\nfind = '''\nx = 1\n'''\nreplace = ''\ntests = ['t']\n"
        "[[mutation]]\nname = 'two'\nfile = 'f'\ntests = ['t']\n"
        "[[mutation.edit]]\nfind = 'a'\nreplace = 'b'\n[[mutation.edit]]\nfind = 'c'\nreplace = 'd'\n"
    )

    one, two = mutate.load(path)

    assert one.edits == (mutate.Edit("x = 1\n", ""),)  # the newline after ''' is dropped
    assert two.edits == (mutate.Edit("a", "b"), mutate.Edit("c", "d"))


def test_a_name_used_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.toml"
    path.write_text("[[mutation]]\nname='a'\nfile='f'\nfind='x'\nreplace='y'\ntests=['t']\n" * 2)

    with pytest.raises(SystemExit, match="used twice: a"):
        mutate.load(path)


def test_an_edit_applies_only_to_text_found_exactly_once() -> None:
    assert mutate.apply("a b c", [mutate.Edit("b", "B"), mutate.Edit("c", "")]) == "a B "
    with pytest.raises(ValueError, match="found 0 times"):
        mutate.apply("a b c", [mutate.Edit("d", "")])
    with pytest.raises(ValueError, match="found 2 times"):
        mutate.apply("a a", [mutate.Edit("a", "")])


def test_a_node_id_covers_itself_its_parametrizations_and_what_a_file_holds() -> None:
    assert mutate.covers("t.py::test_a", "t.py::test_a")
    assert mutate.covers("t.py::test_a", "t.py::test_a[x-1]")
    assert mutate.covers("t.py", "t.py::test_a")
    assert not mutate.covers("t.py::test_a", "t.py::test_ab")
    assert not mutate.covers("t.py::test_a[x]", "t.py::test_a")


def test_failures_are_read_from_the_short_summary() -> None:
    output = "..F\nFAILED t.py::test_a[POST-/cancel] - assert 1 == 2\nERROR t.py::test_b\n1 failed, 1 error"

    assert mutate.failed_nodes(output) == ["t.py::test_a[POST-/cancel]", "t.py::test_b"]


# -- skipping the baseline for what an earlier run passed -------------------------------------

SAMPLE_TESTS = """
import pytest

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown")

def test_plain(): pass
def test_fails(): assert False
def test_skipped(): pytest.skip("no")
def test_teardown_error(broken_teardown): pass

@pytest.mark.parametrize("x", ["a", "b/c", "d::e", "[f]"])
def test_param(x): assert x != "d::e"

class TestGroup:
    def test_method(self): pass

    @pytest.mark.parametrize("n", [1, 2])
    def test_method_param(self, n): pass
"""


PYTEST_SAMPLE = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"]


def run_sample(tmp_path: Path) -> tuple[set[str], Path]:
    """A sample test file run by pytest with --junitxml: the node ids it reported, and the XML."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "test_sample.py").write_text(SAMPLE_TESTS)
    junit = tmp_path / "junit.xml"
    run = subprocess.run(
        # Its own basetemp: a pytest on the default one resets /tmp/pytest-of-<user> to 0700,
        # which locks PostgreSQL (another user) out of a concurrent run's folders.
        [*PYTEST_SAMPLE, f"--basetemp={tmp_path / 'tmp'}", f"--junitxml={junit}", "pkg"],
        cwd=tmp_path,
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},  # none of the venv's plugins: quicker
        capture_output=True,
        text=True,
        check=False,
    )
    reported = {line.split(" ")[0] for line in run.stdout.splitlines() if line.startswith("pkg/")}
    return {node for node in reported if "::" in node}, junit  # not the failures' file:line


def test_a_node_id_maps_to_the_case_pytest_writes_for_it_and_only_passes_count(tmp_path: Path) -> None:
    nodes, junit = run_sample(tmp_path)
    cases = ElementTree.parse(junit).iter("testcase")  # noqa: S314 - the file the test just wrote
    written = {(c.get("classname"), c.get("name")) for c in cases}

    assert len(nodes) == 11 and {mutate.junit_case(n) for n in nodes} == written
    assert mutate.junit_case("pkg/test_sample.py::TestGroup::test_method_param[1]") == (
        "pkg.test_sample.TestGroup",
        "test_method_param[1]",
    )
    passed = {n for n in nodes if mutate.junit_case(n) in mutate.passed_cases(junit)}
    assert passed == {
        "pkg/test_sample.py::test_plain",
        "pkg/test_sample.py::test_param[a]",
        "pkg/test_sample.py::test_param[b/c]",
        "pkg/test_sample.py::test_param[[f]]",
        "pkg/test_sample.py::TestGroup::test_method",
        "pkg/test_sample.py::TestGroup::test_method_param[1]",
        "pkg/test_sample.py::TestGroup::test_method_param[2]",
    }, "not the failure, the skip, the teardown error nor the failing parametrization"


def test_a_test_id_is_known_to_pass_when_every_node_it_covers_passed() -> None:
    nodes = ["t.py::test_a[1]", "t.py::test_a[2]", "t.py::test_b", "u.py::TestC::test_d", "u.py::test_e"]
    passed = {mutate.junit_case(n) for n in nodes if n != "t.py::test_a[2]"}

    known = mutate.known_to_pass(
        ["t.py", "t.py::test_a", "t.py::test_a[1]", "t.py::test_b", "u.py", "v.py"], nodes, passed
    )

    assert known == {"t.py::test_a[1]", "t.py::test_b", "u.py"}, "v.py: no node, nothing known"


def caught(name: str, by: str, tests: tuple[str, ...] = ("t.py",)) -> mutate.Outcome:
    mutation = mutate.Mutation(name, "f", (mutate.Edit("a", "b"),), tests, "why")
    return mutate.Outcome(mutation, "caught", 1.0, f"by {by or '?'}", by)


def test_a_catcher_that_had_no_baseline_is_run_unmutated_after_and_a_failure_there_is_a_baseline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ran: list[list[str]] = []

    def fake_pytest(copy: Path, env: dict[str, str], args: list[str]) -> subprocess.CompletedProcess[str]:
        ran.append(list(args))
        return subprocess.CompletedProcess(args, 1, "FAILED t.py::test_b[2] - assert 1 == 2\n1 failed, 2 passed", "")

    monkeypatch.setattr(mutate, "pytest", fake_pytest)
    outcomes = [
        caught("good", "t.py::test_a"),
        caught("copy-only", "t.py::test_b[2]"),
        caught("had-a-baseline", "u.py::test_c", ("u.py",)),
        caught("unknown-catcher", "", ("t.py::test_d",)),
    ]

    mutate.check_catchers(Path("copy"), {}, outcomes, baseline_ran=["u.py"])

    assert ran == [["-rfE", "t.py::test_a", "t.py::test_b[2]", "t.py::test_d"]], "exact ids, once each"
    assert [o.result for o in outcomes] == ["caught", "BASELINE", "caught", "caught"]
    assert outcomes[1].detail == "fails unmutated: t.py::test_b[2]"


def test_catchers_pytest_cannot_run_make_their_mutations_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mutate, "pytest", lambda *a: subprocess.CompletedProcess(a, 4, "ERROR: not found", ""))
    outcomes = [caught("one", "t.py::test_a"), caught("other", "u.py::test_b", ("u.py",))]

    mutate.check_catchers(Path("copy"), {}, outcomes, baseline_ran=["u.py"])

    assert [o.result for o in outcomes] == ["ERROR", "caught"]


def test_the_mutations_whose_tests_took_longest_run_first_and_ties_keep_their_order() -> None:
    nodes = ["t.py::test_a", "t.py::test_b", "u.py::test_c", "u.py::test_d[1]", "u.py::test_d[2]"]
    seconds = {
        mutate.junit_case("t.py::test_a"): 3.0,
        mutate.junit_case("t.py::test_b"): 1.0,
        mutate.junit_case("u.py::test_c"): 2.0,
        mutate.junit_case("u.py::test_d[1]"): 0.5,
        mutate.junit_case("u.py::test_d[2]"): 0.5,
    }
    file_t, c, d, unknown, also_d = (
        caught(n, "", tests)
        for n, tests in [
            ("file-t", ("t.py",)),
            ("c", ("u.py::test_c",)),
            ("d", ("u.py::test_d",)),
            ("unknown", ("v.py",)),
            ("also-d", ("u.py::test_d[1]", "u.py::test_d[2]")),
        ]
    )
    mutations = [o.mutation for o in (unknown, d, c, also_d, file_t)]

    ordered = mutate.longest_first(mutations, nodes, seconds)

    assert [m.name for m in ordered] == ["file-t", "c", "d", "also-d", "unknown"]


def test_mutations_side_by_side_each_hold_a_lane_of_their_own_while_they_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    lanes = [Path("lane-0"), Path("lane-1")]
    busy: set[Path] = set()
    lock = threading.Lock()
    both_running = threading.Barrier(2, timeout=5)
    started: list[str] = []

    def fake_run(copy: Path, env: dict[str, str], mutation: mutate.Mutation) -> mutate.Outcome:
        with lock:
            assert copy not in busy, f"{copy} given to two mutations at once"
            busy.add(copy)
            started.append(mutation.name)
        if mutation.name in ("m0", "m1"):
            both_running.wait()  # the first two run at once, or this times out
        with lock:
            busy.discard(copy)
        return mutate.Outcome(mutation, "caught", 0.0, f"in {copy}")

    monkeypatch.setattr(mutate, "run_mutation", fake_run)
    mutations = [caught(f"m{i}", "").mutation for i in range(5)]

    outcomes = list(mutate.run_side_by_side(lanes, {lane: {} for lane in lanes}, mutations))

    assert sorted(o.mutation.name for o in outcomes) == [f"m{i}" for i in range(5)]
    assert {o.detail for o in outcomes} == {"in lane-0", "in lane-1"}
    assert set(started[:2]) == {"m0", "m1"}, "the first two in the order given start first"
