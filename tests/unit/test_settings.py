"""Settings from `JOBQ_*` variables: a bad value stops the process with one clear line."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobq_api.settings import ApiSettings
from jobq_core.errors import ConfigurationError
from jobq_core.settings import CoreSettings, env_name, load
from jobq_worker.settings import WorkerServiceSettings

PASSWORD = "s3cret-Pa55word"
DATABASE_URL = f"postgresql://jobq:{PASSWORD}@db.example:5432/jobq"
REDIS_URL = f"redis://:{PASSWORD}@redis.example:6379/0"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No JOBQ_* variable leaks in from the machine or from another test."""
    for name in [k for k in os.environ if k.startswith("JOBQ_")]:
        monkeypatch.delenv(name)
    yield monkeypatch


@pytest.fixture
def env(clean_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """A valid environment to spoil one variable at a time."""
    clean_env.setenv("JOBQ_DATABASE_URL", DATABASE_URL)
    clean_env.setenv("JOBQ_REDIS_URL", REDIS_URL)
    return clean_env


def config_error(settings_class: type[CoreSettings]) -> str:
    with pytest.raises(ConfigurationError) as info:
        load(settings_class)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_env_name_is_the_prefixed_upper_case_field() -> None:
    assert env_name("database_url") == "JOBQ_DATABASE_URL"


@pytest.mark.parametrize("settings_class", [CoreSettings, ApiSettings, WorkerServiceSettings])
def test_valid_settings_load_with_the_urls_kept_secret(env: pytest.MonkeyPatch, settings_class: type) -> None:
    settings = load(settings_class)
    assert settings.database_url.get_secret_value() == DATABASE_URL
    assert settings.redis_url.get_secret_value() == REDIS_URL
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)


@pytest.mark.parametrize("settings_class", [CoreSettings, ApiSettings, WorkerServiceSettings])
def test_a_missing_database_url_is_named_and_said_to_be_required(
    env: pytest.MonkeyPatch, settings_class: type[CoreSettings]
) -> None:
    env.delenv("JOBQ_DATABASE_URL")
    assert config_error(settings_class) == "JOBQ_DATABASE_URL is required"


def test_every_missing_variable_is_reported(clean_env: pytest.MonkeyPatch) -> None:
    message = config_error(CoreSettings)
    assert "JOBQ_DATABASE_URL is required" in message
    assert "JOBQ_REDIS_URL is required" in message


@pytest.mark.parametrize(
    "url", ["mysql://jobq:{pw}@db/jobq", "db.example:5432/jobq?password={pw}", "redis://:{pw}@x/0"]
)
def test_a_database_url_with_the_wrong_scheme_is_named_without_its_password(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("JOBQ_DATABASE_URL", url.format(pw=PASSWORD))
    message = config_error(CoreSettings)
    assert message.startswith("JOBQ_DATABASE_URL ")
    assert "postgresql://" in message  # says what it should be
    assert PASSWORD not in message


def test_a_redis_url_with_the_wrong_scheme_is_named_without_its_password(env: pytest.MonkeyPatch) -> None:
    env.setenv("JOBQ_REDIS_URL", f"http://:{PASSWORD}@redis.example/0")
    message = config_error(CoreSettings)
    assert message.startswith("JOBQ_REDIS_URL ")
    assert PASSWORD not in message


def test_the_error_does_not_carry_the_secret_in_its_chain(env: pytest.MonkeyPatch) -> None:
    env.setenv("JOBQ_DATABASE_URL", f"mysql://jobq:{PASSWORD}@db/jobq")
    with pytest.raises(ConfigurationError) as info:
        load(CoreSettings)
    # `from None`: a logged traceback shows no pydantic error quoting the input.
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert PASSWORD not in repr(info.value)
    assert PASSWORD not in info.value.message


@pytest.mark.parametrize("port", ["eighty", "80.5", ""])
def test_a_non_integer_port_is_named(env: pytest.MonkeyPatch, port: str) -> None:
    env.setenv("JOBQ_PORT", port)
    message = config_error(ApiSettings)
    assert message.startswith("JOBQ_PORT ")
    assert "integer" in message


def test_an_out_of_range_port_is_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("JOBQ_PORT", "70000")
    assert config_error(ApiSettings).startswith("JOBQ_PORT ")


def test_several_bad_values_are_all_reported_with_a_valid_one_untouched(env: pytest.MonkeyPatch) -> None:
    env.setenv("JOBQ_PORT", "x")
    env.setenv("JOBQ_MAX_BATCH_JOBS", "0")
    env.setenv("JOBQ_HOST", "127.0.0.1")
    message = config_error(ApiSettings)
    assert "JOBQ_PORT" in message
    assert "JOBQ_MAX_BATCH_JOBS" in message
    assert "JOBQ_HOST" not in message


def test_api_settings_read_their_variables(env: pytest.MonkeyPatch) -> None:
    env.setenv("JOBQ_PORT", "9123")
    env.setenv("JOBQ_LOG_LEVEL", "debug")
    settings = load(ApiSettings)
    assert settings.port == 9123
    assert settings.log_level == "DEBUG"


def test_a_bad_log_level_is_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("JOBQ_LOG_LEVEL", "LOUD")
    assert config_error(CoreSettings).startswith("JOBQ_LOG_LEVEL ")


def test_worker_lists_split_on_commas(env: pytest.MonkeyPatch) -> None:
    env.setenv("JOBQ_HANDLER_MODULES", "myapp.jobs, other.handlers ,,third")
    env.setenv("JOBQ_QUEUES", "default,emails")
    settings = load(WorkerServiceSettings)
    assert settings.handler_module_list == ["myapp.jobs", "other.handlers", "third"]
    assert settings.queue_list == ["default", "emails"]


@pytest.mark.parametrize("value", ["", " ", ", ,"])
def test_empty_worker_lists_are_empty(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("JOBQ_QUEUES", value)
    env.setenv("JOBQ_HANDLER_MODULES", value)
    settings = load(WorkerServiceSettings)
    assert settings.queue_list == []
    assert settings.handler_module_list == []


@pytest.mark.parametrize("url", ["smtp://user:pw@mail:587", "smtps://mail:465"])
def test_smtp_urls_are_accepted(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("JOBQ_SMTP_URL", url)
    settings = load(WorkerServiceSettings)
    assert settings.smtp_url is not None
    assert settings.smtp_url.get_secret_value() == url


@pytest.mark.parametrize("url", [f"http://user:{PASSWORD}@mail:587", f"mail.example:{PASSWORD}", "imap://mail"])
def test_a_bad_smtp_url_scheme_is_rejected_by_name(env: pytest.MonkeyPatch, url: str) -> None:
    env.setenv("JOBQ_SMTP_URL", url)
    message = config_error(WorkerServiceSettings)
    assert message.startswith("JOBQ_SMTP_URL ")
    assert "smtp://" in message
    assert PASSWORD not in message


def test_worker_bounds_are_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("JOBQ_CONCURRENCY", "0")
    assert config_error(WorkerServiceSettings).startswith("JOBQ_CONCURRENCY ")


@pytest.mark.parametrize("value", ["", "/jobq", "/team/jobq", "/a-b_c.d~e"])
def test_a_public_path_is_empty_or_a_slash_path(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("JOBQ_PUBLIC_PATH", value)
    assert load(ApiSettings).public_path == value


@pytest.mark.parametrize("value", ["jobq", "/jobq/", "/", "//jobq", "/jo bq", "/a/../b", '/x"><script>', "/j?q"])
def test_a_bad_public_path_is_named(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("JOBQ_PUBLIC_PATH", value)
    message = config_error(ApiSettings)
    assert message.startswith("JOBQ_PUBLIC_PATH ")
    assert "/jobq" in message  # says what it should look like


@pytest.mark.parametrize("value", ["#abc", "#A1B2C3", "#b45309"])
def test_an_environment_colour_is_a_css_hex_colour(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("JOBQ_ENVIRONMENT_COLOR", value)
    assert load(ApiSettings).environment_color == value


@pytest.mark.parametrize("value", ["red", "#12", "#1234", "b45309", "#gggggg", "#b45309; x", "#b4530 "])
def test_a_bad_environment_colour_is_named(env: pytest.MonkeyPatch, value: str) -> None:
    env.setenv("JOBQ_ENVIRONMENT_COLOR", value)
    message = config_error(ApiSettings)
    assert message.startswith("JOBQ_ENVIRONMENT_COLOR ")
    assert "#rrggbb" in message


def test_the_dashboard_defaults_to_none_and_no_prefix(env: pytest.MonkeyPatch) -> None:
    settings = load(ApiSettings)
    assert (settings.dashboard_dir, settings.public_path, settings.environment_name) == (None, "", "")
    assert settings.environment_color == "#b45309"


def test_an_empty_dashboard_dir_is_no_dashboard(env: pytest.MonkeyPatch) -> None:
    env.setenv("JOBQ_DASHBOARD_DIR", "")
    assert load(ApiSettings).dashboard_dir is None


def test_a_dashboard_dir_holding_an_index_is_taken(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html>")
    env.setenv("JOBQ_DASHBOARD_DIR", str(tmp_path))
    assert load(ApiSettings).dashboard_dir == tmp_path


@pytest.mark.parametrize("make", ["missing", "empty", "file"])
def test_a_dashboard_dir_without_an_index_is_named(env: pytest.MonkeyPatch, tmp_path: Path, make: str) -> None:
    target = tmp_path / "dist"
    if make == "empty":
        target.mkdir()
    elif make == "file":
        target.write_text("not a folder")
    env.setenv("JOBQ_DASHBOARD_DIR", str(target))
    message = config_error(ApiSettings)
    assert message.startswith("JOBQ_DASHBOARD_DIR ")
    assert "index.html" in message


def test_local_mail_is_off_unless_set_to_a_folder(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert load(ApiSettings).local_mail_dir is None
    env.setenv("JOBQ_LOCAL_MAIL_DIR", "")
    assert load(ApiSettings).local_mail_dir is None
    env.setenv("JOBQ_LOCAL_MAIL_DIR", str(tmp_path))
    assert load(ApiSettings).local_mail_dir == tmp_path


@pytest.mark.parametrize("make", ["missing", "file"])
def test_a_local_mail_dir_that_is_no_folder_is_named(env: pytest.MonkeyPatch, tmp_path: Path, make: str) -> None:
    target = tmp_path / "mail"
    if make == "file":
        target.write_text("not a folder")
    env.setenv("JOBQ_LOCAL_MAIL_DIR", str(target))
    assert config_error(ApiSettings).startswith("JOBQ_LOCAL_MAIL_DIR ")


def test_a_long_environment_name_is_named(env: pytest.MonkeyPatch) -> None:
    env.setenv("JOBQ_ENVIRONMENT_NAME", "x" * 61)
    assert config_error(ApiSettings).startswith("JOBQ_ENVIRONMENT_NAME ")


# --- the processes ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def exits_without_database_url() -> dict[str, subprocess.CompletedProcess[str]]:
    """`python -m jobq_api` and `python -m jobq_worker` started (in parallel) without JOBQ_DATABASE_URL."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQ_")}
    child_env["JOBQ_REDIS_URL"] = REDIS_URL
    procs = {
        module: subprocess.Popen(
            [sys.executable, "-m", module],
            env=child_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for module in ("jobq_api", "jobq_worker")
    }
    results = {}
    for module, proc in procs.items():
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        results[module] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return results


@pytest.mark.parametrize("module", ["jobq_api", "jobq_worker"])
def test_a_service_without_database_url_exits_2_with_one_line(
    exits_without_database_url: dict[str, subprocess.CompletedProcess[str]], module: str
) -> None:
    result = exits_without_database_url[module]
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert "JOBQ_DATABASE_URL" in lines[0]
    assert "required" in lines[0]
    assert PASSWORD not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("variable", "index", "said"),
    [
        ("JOBQ_ENVIRONMENT_COLOR", None, "#rrggbb"),
        ("JOBQ_DASHBOARD_DIR", '<html><head><meta name="jobq-config" content="{}"></head></html>', "<base"),
    ],
    ids=["bad-colour", "index-without-base-placeholder"],
)
def test_the_api_with_a_bad_dashboard_setting_exits_2_with_one_line(
    tmp_path: Path, variable: str, index: str | None, said: str
) -> None:
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("JOBQ_")}
    child_env.update(JOBQ_DATABASE_URL=DATABASE_URL, JOBQ_REDIS_URL=REDIS_URL)
    if index is None:
        child_env[variable] = "amber"
    else:
        (tmp_path / "index.html").write_text(index)
        child_env[variable] = str(tmp_path)

    result = subprocess.run(
        [sys.executable, "-m", "jobq_api"], env=child_env, capture_output=True, text=True, timeout=30, check=False
    )

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"jobq-api: {variable} ")
    assert said in lines[0]
