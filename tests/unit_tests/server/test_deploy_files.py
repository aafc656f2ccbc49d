"""Issue 14 item 5: the Dockerfile and the Kubernetes example are consistent with the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from langchain_guardrails.cli import _parser
from langchain_guardrails.config import RailsConfig

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
    (volume,) = pod["volumes"]
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
