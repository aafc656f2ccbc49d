"""Issue 14 item 5 and issue 21 item 12: the Dockerfile and the Kubernetes example are
consistent with the CLI, pass Kubernetes' schemas and deploy securely."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from langchain_guardrails.cli.main import _parser
from langchain_guardrails.config.rails_config import RailsConfig

ROOT = Path(__file__).resolve().parents[3]
K8S = ROOT / "deploy" / "k8s"


def documents(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((K8S / name).read_text()) if d]


def test_deployment_probes_resources_configs_and_keys() -> None:
    deployment, service = documents("deployment.yaml")
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert set(container["resources"]) == {"requests", "limits"}
    env = {e["name"]: e for e in container["env"]}
    assert env["LANGCHAIN_GUARDRAILS_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "guardrails-api-keys",
        "key": "api-keys",
    }
    volume = next(v for v in pod["volumes"] if v["name"] == "configs")
    assert volume["configMap"]["name"] == "guardrails-configs"
    args = _parser().parse_args(container["args"][1:])
    assert (args.config, args.workers, args.max_concurrency_per_key) == ("/configs", 2, 10)
    # Kubernetes waits longer than the server drains open streams.
    assert pod["terminationGracePeriodSeconds"] > args.drain_timeout


def test_configmap_configs_load() -> None:
    (configmap,) = documents("configmap.yaml")
    (deployment, _) = documents("deployment.yaml")
    items = deployment["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"]
    assert {item["key"] for item in items} == set(configmap["data"])
    for text in configmap["data"].values():
        config = RailsConfig.from_content(yaml_content=text)
        assert config.rails.output.flows


def test_hpa_targets_the_deployment() -> None:
    (hpa,) = documents("hpa.yaml")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "guardrails"
    assert hpa["spec"]["minReplicas"] >= 2


def test_dockerfile_command_parses() -> None:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("CMD"))
    command = yaml.safe_load(line[len("CMD") :])
    assert command[:2] == ["langchain-guardrails", "server"]
    args = _parser().parse_args(command[1:])
    assert (args.host, args.config, args.drain_timeout) == ("0.0.0.0", "/configs", 30.0)


# -- issue 21 item 12: a deployment that works as written -----------------------------------

KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
"""The oldest Kubernetes minor still in common support and the newest the validator knows: an
apiVersion removed or not yet served in either fails."""
CRDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
"""Kinds of operators (not in Kubernetes' schemas): checked field by field below."""


def all_documents() -> list[tuple[str, dict[str, Any]]]:
    return [(path.name, doc) for path in sorted(K8S.glob("*.yaml")) for doc in documents(path.name)]


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in all_documents() if d["kind"] == kind}


def package_version() -> str:
    import tomllib

    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


def test_every_manifest_passes_the_kubernetes_schemas_strictly() -> None:
    import kubernetes_validate

    kinds = set()
    for _, doc in all_documents():
        kinds.add(doc["kind"])
        if (doc["apiVersion"], doc["kind"]) in CRDS:
            continue
        for version in KUBERNETES_VERSIONS:
            # Strict: an unknown or misspelt field is an error, not silently ignored.
            kubernetes_validate.validate(doc, version, strict=True)
    assert kinds == {
        "ConfigMap", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Secret",
        "Service", "ServiceMonitor",
    }  # fmt: skip


def test_the_validator_rejects_what_the_manifests_must_not_hold() -> None:
    """The schema check is real: a field typo, a removed apiVersion and a bad type fail it."""
    import kubernetes_validate

    deployment = of_kind("Deployment")["guardrails"]
    typo = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    old_pdb = {**of_kind("PodDisruptionBudget")["guardrails"], "apiVersion": "policy/v1beta1"}
    bad_type = {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}
    for doc, error in [
        (typo, kubernetes_validate.ValidationError),
        (old_pdb, kubernetes_validate.SchemaNotFoundError),
        (bad_type, kubernetes_validate.ValidationError),
    ]:
        with pytest.raises(error):
            kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_pods_run_non_root_on_a_read_only_root_without_privileges() -> None:
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] > 0, name
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False,
                "readOnlyRootFilesystem": True,
                "runAsNonRoot": True,
                "capabilities": {"drop": ["ALL"]},
            }, name
            writable = {
                m["mountPath"]: volumes[m["name"]]
                for m in container["volumeMounts"]
                if not m.get("readOnly")
            }
            # The only writable places are bounded emptyDirs.
            assert all("emptyDir" in v and v["emptyDir"]["sizeLimit"] for v in writable.values())
    gateway = of_kind("Deployment")["guardrails"]["spec"]["template"]["spec"]
    assert {m["mountPath"] for m in gateway["containers"][0]["volumeMounts"]} == {
        "/configs",
        "/tmp",
    }


def test_images_are_pinned_and_the_gateway_image_is_the_package_version() -> None:
    images = {
        name: container["image"]
        for name, deployment in of_kind("Deployment").items()
        for container in deployment["spec"]["template"]["spec"]["containers"]
    }
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", (name, image)
    assert images["guardrails"] == f"langchain-guardrails:{package_version()}"
    assert images["redis"] == "redis:7.4.2-alpine"


def test_services_pdb_and_monitor_select_what_they_mean() -> None:
    deployments = of_kind("Deployment")
    services = of_kind("Service")
    for name, service in services.items():
        pod = deployments[name]["spec"]["template"]
        assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
        ports = {p["name"] for c in pod["spec"]["containers"] for p in c["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports
    pdb = of_kind("PodDisruptionBudget")["guardrails"]["spec"]
    gateway = deployments["guardrails"]["spec"]
    assert pdb["selector"] == gateway["selector"]
    assert (
        pdb["selector"]["matchLabels"].items() <= gateway["template"]["metadata"]["labels"].items()
    )
    # A drain can always evict someone: fewer must stay up than the HPA's minimum keeps.
    assert (
        pdb["minAvailable"]
        < of_kind("HorizontalPodAutoscaler")["guardrails"]["spec"]["minReplicas"]
    )
    (monitor,) = of_kind("ServiceMonitor").values()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= (
        services["guardrails"]["metadata"]["labels"].items()
    )
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in services["guardrails"]["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    # /metrics takes an API key: the scrape's key is in the Secret and one of the served keys.
    credentials = endpoint["authorization"]["credentials"]
    secret = of_kind("Secret")[credentials["name"]]["stringData"]
    assert secret[credentials["key"]] in secret["api-keys"].split(",")


def test_the_gateway_reaches_the_shipped_redis() -> None:
    from urllib.parse import urlsplit

    container = of_kind("Deployment")["guardrails"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert "--redis-url=$(REDIS_URL)" in container["args"]
    url = urlsplit(env["REDIS_URL"])
    service = of_kind("Service")[url.hostname or ""]
    assert url.port in {p["port"] for p in service["spec"]["ports"]}


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    lines = (ROOT / "Dockerfile").read_text().splitlines()
    (user,) = [line for line in lines if line.startswith("USER ")]
    uid, _, gid = user.split()[1].partition(":")
    assert int(uid) > 0 and int(gid) > 0
    assert all(not line.startswith("FROM") for line in lines[lines.index(user) :])


def test_dockerfile_healthcheck_asks_health_without_curl() -> None:
    """The HEALTHCHECK's own command, run against a live server (on a free port instead of
    8000), exits 0; against a port nobody listens on it exits non-zero."""
    import json
    import socket
    import subprocess
    import sys

    from langchain_guardrails.server import create_app

    from .conftest import CONFIGS, live_server

    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    (line,) = [line for line in text.splitlines() if line.startswith("HEALTHCHECK")]
    command = json.loads(line[line.index("CMD") + len("CMD") :])
    assert command[:2] == ["python", "-c"] and "http://127.0.0.1:8000/health" in command[2]
    assert "curl" not in line and "wget" not in line

    def run(port: int) -> int:
        code = command[2].replace(":8000/", f":{port}/")
        return subprocess.run(
            [sys.executable, "-c", code], capture_output=True, timeout=30
        ).returncode

    with live_server(create_app(CONFIGS, api_key="s3cret")) as url:
        assert run(int(url.rsplit(":", 1)[1])) == 0
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    assert run(free) != 0
