"""Which OTEL_* settings turn traces on, and that with none set nothing is installed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from jobq_core.errors import ConfigurationError
from jobq_core.telemetry.tracing import exporters_from_env

# Runs in a fresh interpreter: configure tracing as `python -m jobq_api` does, build
# the app, then report what got installed.
PROBE = """
import json, sys
from jobq_core.telemetry import tracing
on = tracing.configure("jobq-api")
from jobq_api.app import create_app
from jobq_api.settings import ApiSettings
create_app(ApiSettings(database_url="postgresql://x@127.0.0.1/x", redis_url="redis://127.0.0.1:1"))
from opentelemetry import trace
print(json.dumps({
    "on": on,
    "enabled": tracing.enabled,
    "provider": type(trace.get_tracer_provider()).__name__,
    "sdk_loaded": sorted(m for m in sys.modules if m.startswith("opentelemetry.sdk")) != [],
    "exporter_loaded": any(m.startswith("opentelemetry.exporter") for m in sys.modules),
}))
"""


def _probe(**otel: str) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "JOBQ_"))}
    env.update(otel)
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60, check=True)
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_without_otel_settings_no_sdk_provider_or_exporter_is_installed() -> None:
    assert _probe() == {
        "on": False,
        "enabled": False,
        "provider": "ProxyTracerProvider",
        "sdk_loaded": False,
        "exporter_loaded": False,
    }


def test_an_otlp_endpoint_installs_the_sdk_and_exporter() -> None:
    assert _probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318") == {
        "on": True,
        "enabled": True,
        "provider": "TracerProvider",
        "sdk_loaded": True,
        "exporter_loaded": True,
    }


def test_sdk_disabled_wins_over_an_endpoint() -> None:
    result = _probe(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:4318", OTEL_SDK_DISABLED="true")
    assert result["provider"] == "ProxyTracerProvider" and result["sdk_loaded"] is False


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, []),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"}, ["otlp"]),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, ["otlp"]),  # to the default localhost:4318
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp,console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, []),
        ({"OTEL_SDK_DISABLED": "TRUE", "OTEL_TRACES_EXPORTER": "otlp"}, []),
        ({"OTEL_SDK_DISABLED": "false", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}, ["otlp"]),
    ],
)
def test_exporters_from_env(env: dict[str, str], expected: list[str]) -> None:
    assert exporters_from_env(env) == expected


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER: unsupported exporter 'zipkin'"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTEL_EXPORTER_OTLP_PROTOCOL: unsupported protocol 'grpc'",
        ),
        (
            {
                "OTEL_TRACES_EXPORTER": "otlp",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json",
            },
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: unsupported protocol 'http/json'",
        ),
    ],
)
def test_settings_jobq_cannot_honour_are_refused_by_name(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        exporters_from_env(env)


@pytest.mark.parametrize("module", ["jobq_api", "jobq_worker"])
def test_a_service_with_an_unsupported_exporter_stops_with_one_line(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "JOBQ_"))}
    env.update(
        JOBQ_DATABASE_URL="postgresql://x@127.0.0.1/x",
        JOBQ_REDIS_URL="redis://127.0.0.1:1",
        OTEL_TRACES_EXPORTER="jaeger",
    )
    done = subprocess.run([sys.executable, "-m", module], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "OTEL_TRACES_EXPORTER: unsupported exporter 'jaeger'" in done.stderr
