"""The mutation check's own parsing (`pytest tools/test_mutate.py`; no servers, under a second)."""

from __future__ import annotations

from pathlib import Path

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
