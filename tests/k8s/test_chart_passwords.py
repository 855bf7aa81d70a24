"""The bundled PostgreSQL's and Redis's passwords: the same in every render of a release.

`helm template` (what Argo CD runs) cannot look anything up in the cluster, so a random
password would be a new one in each render, which the database, initialised with the
first, refuses. Installs run with `--no-hooks` (no node runs here: see test_chart.py).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote

import yaml

from tests.k8s.kube import Kube
from tests.k8s.test_chart import CHART, RELEASE, helm_args, install, names

SEED = "k2VbX9qL0rT7wZp4"
SECRETS = ("demo-jobq", "demo-jobq-postgresql", "demo-jobq-redis")


def template(kube: Kube, *sets: str, release: str = RELEASE, namespace: str = "jobq") -> str:
    """`helm template` of the chart: no cluster behind it, as in a GitOps controller."""
    return kube.helm("template", release, CHART, "-n", namespace, *helm_args(*sets)).stdout


def secrets(text: str) -> dict[str, dict[str, str]]:
    """The Secrets of a rendered stream, name -> decoded data."""
    found = [o for o in yaml.safe_load_all(text) if o and o["kind"] == "Secret"]
    return {o["metadata"]["name"]: decoded(o) for o in found}


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


def installed(kube: Kube, namespace: str) -> dict[str, dict[str, str]]:
    """The release's Secrets as they are in the cluster."""
    return {name: decoded(kube.get("secret", name, "-n", namespace)) for name in SECRETS}


def passwords(found: dict[str, dict[str, str]]) -> tuple[str, str]:
    """The (PostgreSQL, Redis) passwords of the Secrets of one release, whatever its name."""
    [pg] = [data["password"] for name, data in found.items() if name.endswith("-jobq-postgresql")]
    [redis] = [data["password"] for name, data in found.items() if name.endswith("-jobq-redis")]
    return pg, redis


def test_helm_template_renders_the_same_passwords_every_time(kube: Kube) -> None:
    first, second = template(kube), template(kube)
    assert first == second  # the Secrets, and the checksum annotations that follow them
    found = secrets(first)
    pg, redis = passwords(found)
    assert len(pg) == len(redis) == 32
    assert pg != redis
    assert found["demo-jobq"]["databaseUrl"] == f"postgresql://jobq:{pg}@demo-jobq-postgresql:5432/jobq"
    assert found["demo-jobq"]["redisUrl"] == f"redis://:{redis}@demo-jobq-redis:6379/0"

    # Each release has its own; the seed makes them unguessable, and stays as stable.
    others = {
        passwords(secrets(template(kube, release="other"))),
        passwords(secrets(template(kube, namespace="elsewhere"))),
        passwords(secrets(template(kube, f"passwordSeed={SEED}"))),
        (pg, redis),
    }
    assert len(others) == 4
    assert template(kube, f"passwordSeed={SEED}") == template(kube, f"passwordSeed={SEED}")

    # A password given wins, and goes into the URL escaped.
    given = secrets(template(kube, "postgresql.auth.password=p@ss/word:1", f"passwordSeed={SEED}"))
    assert given["demo-jobq-postgresql"]["password"] == "p@ss/word:1"
    assert given["demo-jobq"]["databaseUrl"].startswith(f"postgresql://jobq:{quote('p@ss/word:1', safe='')}@")


def test_an_install_has_the_passwords_helm_template_renders_and_keeps_them_on_upgrades(
    kube: Kube, namespace: str
) -> None:
    install(kube, namespace, f"passwordSeed={SEED}")
    first = installed(kube, namespace)
    # Rendered elsewhere (Argo CD, Flux, a CI job), the release gets the Secrets it has.
    elsewhere = secrets(template(kube, f"passwordSeed={SEED}", namespace=namespace))
    assert {name: elsewhere[name] for name in SECRETS} == first
    # With the bundled PostgreSQL the migration is a Job of the release reading its Secret:
    # no hook copy of the URLs.
    assert "demo-jobq-migration" not in elsewhere

    # An upgrade keeps them, whatever the seed says now: PostgreSQL only read the password
    # when it created its data directory.
    install(kube, namespace, "passwordSeed=another-seed-of-16", command="upgrade")
    assert installed(kube, namespace) == first

    # A release installed by an earlier chart version holds random passwords: upgrades keep those too.
    old = {"data": {"password": base64.b64encode(b"Rand0mFromChart010").decode()}}
    for name in ("demo-jobq-postgresql", "demo-jobq-redis"):
        kube.kubectl("patch", "secret", name, "-n", namespace, "--type=merge", "-p", json.dumps(old))
    install(kube, namespace, command="upgrade")
    now = installed(kube, namespace)
    assert passwords(now) == ("Rand0mFromChart010", "Rand0mFromChart010")
    assert now["demo-jobq"]["databaseUrl"] == "postgresql://jobq:Rand0mFromChart010@demo-jobq-postgresql:5432/jobq"
    assert now["demo-jobq"]["redisUrl"] == "redis://:Rand0mFromChart010@demo-jobq-redis:6379/0"


def test_existing_secrets_hold_the_bundled_servers_passwords(kube: Kube, namespace: str) -> None:
    pg_url = "postgresql://jobq:from-vault@demo-jobq-postgresql:5432/jobq"
    redis_url = "redis://:from-vault-too@demo-jobq-redis:6379/0"
    kube.kubectl("create", "secret", "generic", "pg-pass", "--from-literal=pw=from-vault", "-n", namespace)
    kube.kubectl("create", "secret", "generic", "redis-pass", "--from-literal=password=from-vault-too", "-n", namespace)
    kube.kubectl("create", "secret", "generic", "urls", f"--from-literal=databaseUrl={pg_url}",
                 f"--from-literal=redisUrl={redis_url}", "-n", namespace)  # fmt: skip
    sets = ["existingSecret=urls", "postgresql.auth.existingSecret=pg-pass", "postgresql.auth.existingSecretKey=pw",
            "redis.auth.existingSecret=redis-pass"]  # fmt: skip
    install(kube, namespace, *sets)

    # The chart renders no password of its own.
    assert names(kube, "secrets", namespace) == set()
    assert "kind: Secret" not in template(kube, *sets, namespace=namespace)

    def password_ref(statefulset: str, variable: str) -> dict[str, str]:
        found = kube.get("statefulset", statefulset, "-n", namespace)["spec"]["template"]["spec"]["containers"][0]
        return dict(next(e for e in found["env"] if e["name"] == variable)["valueFrom"]["secretKeyRef"])

    assert password_ref("demo-jobq-postgresql", "POSTGRES_PASSWORD") == {"name": "pg-pass", "key": "pw"}
    assert password_ref("demo-jobq-redis", "REDIS_PASSWORD") == {"name": "redis-pass", "key": "password"}
    assert password_ref("demo-jobq-redis", "REDISCLI_AUTH") == {"name": "redis-pass", "key": "password"}
