"""The three Dockerfiles and their locks: what a cluster operator relies on without building them.

No container engine runs in CI, so these read the Dockerfiles (hadolint in `make lint`
checks the rest): a non-root numeric user, an exec-form entry point that is the command
the tests run, a base image pinned to a patch release, a final stage that carries only
the venv (and, in the api's, the dashboard built in a Node stage); and locks whose
versions are the ones the test suite ran against.
"""

from __future__ import annotations

import importlib.util
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tools.images.bases import DEBIAN_PYTHON

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ["api", "worker", "operator"]
PINNED_BASE = re.compile(r"^python:3\.11\.\d+-slim-bookworm$")
PINNED_NODE = re.compile(r"^node:\d+\.\d+\.\d+-bookworm-slim$")
BUILD_TOOLS = re.compile(r"\b(gcc|g\+\+|make|build-essential|python3-dev|libpq-dev|git)\b")
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


@dataclass
class Stage:
    """One `FROM` block: its image, its `AS` name and its instructions as (keyword, arguments)."""

    image: str
    name: str = ""
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        return [rest for kw, rest in self.instructions if kw == keyword]


def parse_dockerfile(text: str) -> list[Stage]:
    """The stages of a Dockerfile, with comments dropped and continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("#") or (not line and not pending):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, "a continuation line ends the file"
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = rest.split()
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(image=resolve_base(words[0], base_args(text)), name=name))
        elif keyword == "ARG" and not stages:
            continue
        else:
            assert stages, f"{keyword} before the first FROM"
            stages[-1].instructions.append((keyword, rest))
    return stages


def base_args(text: str) -> dict[str, str]:
    """The `ARG NAME=default` lines before the first FROM: the build arguments that may name a base."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("FROM "):
            break
        match = re.match(r"ARG (\w+)=(\S+)$", line)
        if match:
            found[match.group(1)] = match.group(2)
    return found


def resolve_base(image: str, defaults: dict[str, str]) -> str:
    """A FROM's image with a `${NAME}` build argument replaced by its default (what Docker builds by default)."""
    match = re.fullmatch(r"\$\{(\w+)\}", image)
    if not match:
        return image
    assert match.group(1) in defaults, f"FROM {image}: the build argument has no default before the first FROM"
    return defaults[match.group(1)]


def stages_of(service: str) -> list[Stage]:
    return parse_dockerfile((ROOT / service / "Dockerfile").read_text())


def python_stages(service: str) -> list[Stage]:
    """The stages that build and run the service (the api's also has a Node stage for the dashboard)."""
    return [stage for stage in stages_of(service) if not stage.image.startswith("node:")]


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(lock: Path) -> dict[str, str]:
    """`name==version` lines of a requirements-style lock, by normalised name."""
    found: dict[str, str] = {}
    for line in lock.read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[normalise(match.group(1))] = match.group(2)
    return found


def env_of(stage: Stage) -> dict[str, str]:
    values: dict[str, str] = {}
    for rest in stage.args("ENV"):
        for pair in rest.split():
            key, _, value = pair.partition("=")
            values[key] = value
    return values


@pytest.mark.parametrize("service", SERVICES)
def test_the_base_image_is_pinned_to_a_patch_release(service: str) -> None:
    stages = python_stages(service)
    assert len(stages) >= 2, "multi-stage: a build stage and a runtime stage"
    for stage in stages:
        assert PINNED_BASE.match(stage.image), f"{service}: base {stage.image} is not pinned to a patch release"
    assert len({stage.image for stage in stages}) == 1, "build and runtime stages use the same base (the venv's python)"
    for stage in stages_of(service):
        if stage not in stages:
            assert PINNED_NODE.match(stage.image), f"{service}: base {stage.image} is not pinned to a patch release"


def makefile_variable(name: str) -> str:
    match = re.search(rf"^{name} := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert match, f"the Makefile sets {name}"
    return match.group(1)


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_the_locks_are_resolved_for_the_images_python() -> None:
    image_python = makefile_variable("IMAGE_PYTHON")
    for service in SERVICES:
        assert stages_of(service)[-1].image.startswith(f"python:{image_python}-"), (
            f"{service}: the base image and the Makefile's IMAGE_PYTHON disagree on the Python version"
        )
    # The locks hold for every Python the images are built on when resolved for the oldest:
    # Debian bookworm's, the base of `make images` without Docker Hub (tools/images).
    locks_python = makefile_variable("LOCKS_PYTHON")
    assert locks_python == DEBIAN_PYTHON, "`make locks` resolves for the Debian base's Python"
    assert version(locks_python) <= version(image_python)


@pytest.mark.parametrize("service", SERVICES)
def test_the_bases_are_build_arguments_defaulting_to_the_pinned_images(service: str) -> None:
    text = (ROOT / service / "Dockerfile").read_text()
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert froms and all(re.fullmatch(r"\$\{(PYTHON|NODE)_IMAGE\}", image) for image in froms), (
        f"{service}: every FROM names its base by build argument (tools/images passes a Debian base)"
    )
    assert set(base_args(text)) <= {"PYTHON_IMAGE", "NODE_IMAGE"}


@pytest.mark.parametrize("service", SERVICES)
def test_the_final_stage_runs_as_a_numeric_non_root_user(service: str) -> None:
    users = stages_of(service)[-1].args("USER")
    assert users, f"{service}: the final stage sets no USER"
    match = re.fullmatch(r"(\d+):(\d+)", users[-1])
    assert match, f"{service}: USER {users[-1]} is not numeric uid:gid (runAsNonRoot needs a number)"
    assert int(match.group(1)) != 0 and int(match.group(2)) != 0


@pytest.mark.parametrize("service", SERVICES)
def test_the_entrypoint_is_exec_form_and_the_command_the_tests_run(service: str) -> None:
    entrypoints = stages_of(service)[-1].args("ENTRYPOINT")
    assert len(entrypoints) == 1, f"{service}: one ENTRYPOINT in the final stage"
    assert entrypoints[0].startswith("["), f"{service}: shell-form ENTRYPOINT would keep SIGTERM from python"
    assert json.loads(entrypoints[0]) == ["python", "-m", f"jobq_{service}"]
    assert not stages_of(service)[-1].args("CMD"), "no CMD appended to the module's arguments"
    assert importlib.util.find_spec(f"jobq_{service}.__main__") is not None, "the entry module exists"


@pytest.mark.parametrize("service", SERVICES)
def test_the_final_stage_carries_only_the_venv(service: str) -> None:
    final = stages_of(service)[-1]
    for rest in final.args("RUN"):
        assert "pip" not in rest, f"{service}: pip runs in the final stage"
        assert not ("apt-get" in rest and "install" in rest and BUILD_TOOLS.search(rest)), (
            f"{service}: build tools installed in the final stage: {rest}"
        )
    copies = final.args("COPY")
    assert copies, f"{service}: the final stage copies nothing"
    for rest in copies:
        assert rest.startswith("--from="), f"{service}: the final stage copies from the build context: {rest}"
    assert not final.args("ADD")
    env = env_of(final)
    assert env.get("PYTHONDONTWRITEBYTECODE") == "1", "no bytecode written on a read-only root filesystem"
    assert env.get("PYTHONUNBUFFERED") == "1"


@pytest.mark.parametrize("service", SERVICES)
def test_the_build_stage_installs_its_own_hashed_lock(service: str) -> None:
    runs = " ".join(python_stages(service)[0].args("RUN"))
    copies = " ".join(python_stages(service)[0].args("COPY"))
    assert f"requirements/{service}.lock" in copies
    assert "--require-hashes" in runs
    assert "--no-deps" in runs


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_lock_is_hashed_and_names_no_address_or_local_package(service: str) -> None:
    text = (ROOT / "requirements" / f"{service}.lock").read_text()
    assert not re.search(r"https?://|index-url|find-links|^-e ", text, re.MULTILINE)
    locked = pins(ROOT / "requirements" / f"{service}.lock")
    assert locked, "the lock pins packages"
    assert not [name for name in locked if name.startswith("jobq-")], "local packages are installed from source"
    assert text.count("==") == len(locked), "every requirement is pinned"
    assert text.count("--hash=sha256:") >= len(locked), "every pin carries hashes"


# Installed only below the dev venv's Python, so dev.lock lacks them: redis-py needs
# async-timeout below 3.11.3 (the Debian base's 3.11.2). tests/images imports redis in
# the images built on that base.
ONLY_FOR_THE_OLDEST_PYTHON = {"async-timeout"}


@pytest.mark.parametrize("service", SERVICES)
def test_the_shipped_versions_are_the_tested_versions(service: str) -> None:
    tested = pins(ROOT / "requirements" / "dev.lock")
    shipped = pins(ROOT / "requirements" / f"{service}.lock")
    differ = {
        name: (version, tested.get(name))
        for name, version in shipped.items()
        if tested.get(name) != version and not (name in ONLY_FOR_THE_OLDEST_PYTHON and name not in tested)
    }
    assert not differ, f"{service}.lock disagrees with dev.lock (run `make lock locks`): {differ}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_lock_covers_its_declared_dependencies(service: str) -> None:
    declared: list[str] = []
    for package in ("core", service):
        project = tomllib.loads((ROOT / package / "pyproject.toml").read_text())["project"]
        declared += project.get("dependencies", [])
    names = {normalise(re.match(r"[A-Za-z0-9._-]+", dep).group(0)) for dep in declared}  # type: ignore[union-attr]
    locked = set(pins(ROOT / "requirements" / f"{service}.lock"))
    missing = sorted(name for name in names - locked if name != "jobq-core")
    assert not missing, f"{service}.lock lacks {missing} (run `make locks`)"


def test_the_api_image_builds_the_dashboard_from_its_lock_and_serves_it() -> None:
    [node] = [stage for stage in stages_of("api") if stage.image.startswith("node:")]
    assert node.name == "dashboard"
    copies, runs = node.args("COPY"), node.args("RUN")
    lock_copy = next(i for i, rest in enumerate(copies) if "dashboard/package-lock.json" in rest)
    sources_copy = next(i for i, rest in enumerate(copies) if rest.split()[0] == "dashboard/")
    assert lock_copy < sources_copy, "the dependencies' layer is cached apart from the sources"
    assert any(rest.startswith("npm ci") and "--ignore-scripts" in rest for rest in runs), "installed from the lock"
    assert not any("npm install" in rest for rest in runs)
    assert "npm run build" in runs
    final = stages_of("api")[-1]
    [dist_copy] = [rest for rest in final.args("COPY") if rest.startswith("--from=dashboard ")]
    _, source, target = dist_copy.split()
    assert source == "/src/dashboard/dist"
    assert env_of(final)["JOBQ_DASHBOARD_DIR"] == target, "the API serves the files the image carries"


def test_the_build_context_carries_the_dashboard_sources_not_its_local_build() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert "dashboard" not in ignored
    assert {"dashboard/node_modules", "**/dist"} <= ignored


def test_the_operator_image_carries_no_web_stack_and_the_api_no_kopf() -> None:
    assert "fastapi" not in pins(ROOT / "requirements" / "operator.lock")
    assert "kopf" not in pins(ROOT / "requirements" / "api.lock")


def test_the_build_context_leaves_out_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", ".jobq", "tests", "bench"} <= ignored
