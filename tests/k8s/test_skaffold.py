"""skaffold.yaml: valid against skaffold's own schema, and its profiles deploy a chart that works.

No container engine runs here, so skaffold cannot build; the schema of the file's
apiVersion comes from the pinned skaffold module's zip (tools/kube/extras.sh
skaffold-schemas), and each profile's Helm values are rendered and sent to the API
server (server-side dry run), the way skaffold would pass them to `helm install`.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.k8s.kube import Kube
from tests.k8s.test_chart import helm_args, parse
from tools.kube.binaries import extra

ROOT = Path(__file__).resolve().parents[2]
SKAFFOLD = ROOT / "skaffold.yaml"
# What skaffold would fill in for each artifact's setValueTemplates.
BUILT_REPO, BUILT_TAG = "skaffold-built/{}", "0123abc"


def config() -> dict[str, Any]:
    return dict(yaml.safe_load(SKAFFOLD.read_text()))


def schema_errors(document: dict[str, Any]) -> list[str]:
    """Violations of skaffold's JSON schema for the document's apiVersion, one line each."""
    version = document["apiVersion"].removeprefix("skaffold/")
    schema = yaml.safe_load((extra("skaffold-schemas") / f"{version}.json").read_text())
    validator = jsonschema.Draft7Validator(schema)

    def leaves(error: jsonschema.ValidationError) -> list[jsonschema.ValidationError]:
        # The root is an anyOf of one config type: report what failed inside it.
        return [leaf for sub in error.context for leaf in leaves(sub)] if error.context else [error]

    found = [leaf for error in validator.iter_errors(document) for leaf in leaves(error)]
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def apply_patches(document: dict[str, Any], patches: list[dict[str, Any]]) -> dict[str, Any]:
    """The document with a profile's JSON patches (add/replace, as skaffold applies them)."""
    patched = copy.deepcopy(document)
    for patch in patches:
        assert patch["op"] in ("add", "replace"), patch
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in patch["path"].split("/")[1:]]
        target: Any = patched
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]
        if patch["op"] == "replace":
            assert last in target, f"{patch['path']} does not exist"
        target[last] = patch["value"]
    return patched


def helm_values(release: dict[str, Any]) -> list[str]:
    """`--set` arguments skaffold passes for a release, with its image templates filled in."""
    sets = []
    for key, template in release.get("setValueTemplates", {}).items():
        found = re.fullmatch(r"\{\{\.IMAGE_(REPO|TAG)_(\w+)\}\}", template)
        assert found, f"{key}: {template}"
        artifact = found[2].replace("_", "-")
        sets.append(f"{key}={BUILT_REPO.format(artifact) if found[1] == 'REPO' else BUILT_TAG}")
    sets += [f"{key}={str(value).lower() if isinstance(value, bool) else value}"
             for key, value in release.get("setValues", {}).items()]  # fmt: skip
    return sets


def test_skaffold_yaml_matches_the_schema_of_its_api_version() -> None:
    document = config()
    assert not schema_errors(document)
    for profile in document["profiles"]:
        assert not schema_errors(apply_patches(document, profile.get("patches", []))), profile["name"]

    # The check can fail: a misspelt field and a wrong type are caught.
    broken = copy.deepcopy(document)
    broken["deploy"]["helm"]["releases"][0]["chartpth"] = "charts/jobq"
    broken["build"]["local"]["push"] = "yes"
    errors = schema_errors(broken)
    assert any("chartpth" in e for e in errors), errors
    assert any(e.startswith("build/local/push") for e in errors), errors


def test_the_three_images_are_built_from_their_dockerfiles_and_all_reach_the_chart() -> None:
    document = config()
    artifacts = {a["image"]: a for a in document["build"]["artifacts"]}
    assert set(artifacts) == {"jobq-api", "jobq-worker", "jobq-operator"}
    for image, artifact in artifacts.items():
        service = image.removeprefix("jobq-")
        assert artifact["context"] == "."
        assert artifact["docker"]["dockerfile"] == f"{service}/Dockerfile"
        assert (ROOT / artifact["context"] / artifact["docker"]["dockerfile"]).is_file()
    [release] = document["deploy"]["helm"]["releases"]
    assert (ROOT / release["chartPath"] / "Chart.yaml").is_file()
    templates = release["setValueTemplates"]
    for image in artifacts:
        service, name = image.removeprefix("jobq-"), image.replace("-", "_")
        assert templates[f"{service}.image.repository"] == f"{{{{.IMAGE_REPO_{name}}}}}"
        assert templates[f"{service}.image.tag"] == f"{{{{.IMAGE_TAG_{name}}}}}"


@pytest.mark.usefixtures("jobq_crds")
@pytest.mark.parametrize("profile", ["dev", "prod"])
def test_each_profile_deploys_a_chart_the_api_server_accepts(
    kube: Kube, namespace: str, prometheus_crds: Path, profile: str
) -> None:
    document = config()
    [found] = [p for p in document["profiles"] if p["name"] == profile]
    patched = apply_patches(document, found["patches"])
    [release] = patched["deploy"]["helm"]["releases"]
    text = kube.helm("template", release["name"], str(ROOT / release["chartPath"]), "-n", namespace,
                     *helm_args(*helm_values(release))).stdout  # fmt: skip
    objects = parse(kube, text, server=namespace)
    kinds = {(o["kind"], o["metadata"]["name"]) for o in objects}

    images = {
        c["image"] for o in objects if o["kind"] == "Deployment" for c in o["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"skaffold-built/jobq-{s}:{BUILT_TAG}" for s in ("api", "worker", "operator")}
    if profile == "dev":
        assert patched["build"]["local"]["push"] is False
        assert {("StatefulSet", "jobq-postgresql"), ("StatefulSet", "jobq-redis")} <= kinds
        [scaler] = [o for o in objects if o["kind"] == "WorkerScaler"]
        assert (scaler["spec"]["minReplicas"], scaler["spec"]["maxReplicas"]) == (1, 1)
    else:
        assert patched["build"]["local"]["push"] is True
        assert not [k for k in kinds if k[0] == "StatefulSet"]
        assert ("Secret", "jobq") not in kinds  # the URLs come from the existing Secret
        assert {("ServiceMonitor", "jobq-api"), ("PodMonitor", "jobq-worker"), ("PodMonitor", "jobq-operator")} <= kinds
        for deployment in (o for o in objects if o["kind"] == "Deployment"):
            env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
            refs = {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "secretKeyRef" in e.get("valueFrom", {})}
            assert refs == {"jobq-urls"}
