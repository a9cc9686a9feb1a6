"""Deployment files: compose.yaml against the compose spec, k8s/ against the Kubernetes API models."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import kubernetes.client
import pytest
import yaml
from conftest import REPO

_PRIMITIVES = {"str", "int", "bool", "float", "object", "datetime", "date"}


def test_compose_file_is_valid_compose_spec() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(REPO / "compose.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_keeps_secrets_out_and_the_dashboard_on_loopback() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) >= {"postgres", "worker-gpu0", "worker-gpu1", "dashboard", "create-study"}
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")
    assert "healthcheck" in services["postgres"] and "pgdata" in compose["volumes"]
    assert all(p.startswith("127.0.0.1:") for p in services["dashboard"]["ports"])
    # one GPU per worker service, each a different one: `count: 1` on a scaled service gives every
    # replica the same GPU
    workers = {name: service for name, service in services.items() if name.startswith("worker")}
    gpu_ids = []
    for name, service in workers.items():
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert "count" not in device and "replicas" not in service["deploy"], name
        assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"], name
        (gpu_id,) = device["device_ids"]
        assert re.fullmatch(r"\$\{DFU_GPU(\d):-\1\}", gpu_id), gpu_id  # DFU_GPUn from .env, default n
        gpu_ids.append(gpu_id)
        assert any(v.endswith(":/data:ro") for v in service["volumes"]) and service["command"][0] == "worker"
    assert len(workers) >= 2 and len(set(gpu_ids)) == len(gpu_ids)
    content = "\n".join(
        line for line in (REPO / "compose.yaml").read_text().splitlines() if not line.lstrip().startswith("#")
    )
    assert not re.search(r"postgresql://\w+:(?!\$\{)[^@]+@", content)  # no literal password
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^USER dfu$", dockerfile, re.M)


def _check_fields(data, type_name: str, path: str) -> None:
    """Every key is a field of the Kubernetes model it sits in, recursively."""
    if type_name in _PRIMITIVES or data is None:
        return
    if type_name.lower().startswith("list["):
        for i, item in enumerate(data):
            _check_fields(item, type_name[5:-1], f"{path}[{i}]")
        return
    if type_name.lower().startswith(("dict(", "dict[")):
        return
    model = getattr(kubernetes.client.models, type_name)
    by_json = {json_key: attr for attr, json_key in model.attribute_map.items()}
    for key, value in data.items():
        assert key in by_json, f"{path}.{key} is not a field of {type_name}"
        _check_fields(value, model.openapi_types[by_json[key]], f"{path}.{key}")


@pytest.mark.parametrize("manifest", sorted((REPO / "k8s").glob("*.yaml")), ids=lambda p: p.name)
def test_kubernetes_manifests_match_the_api_models(manifest: Path) -> None:
    for document in yaml.safe_load_all(manifest.read_text()):
        kind = f"V1{document['kind']}"
        _check_fields(document, kind, document["kind"])
        # the client's own deserialiser enforces required fields and enum values
        kubernetes.client.ApiClient()._ApiClient__deserialize(document, kind)


def test_worker_job_requests_a_gpu_and_reads_the_storage_url_from_a_secret() -> None:
    job = yaml.safe_load((REPO / "k8s" / "workers.yaml").read_text())
    assert job["spec"]["completionMode"] == "Indexed"
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    storage = next(e for e in container["env"] if e["name"] == "DFU_SEARCH_STORAGE")
    assert "secretKeyRef" in storage["valueFrom"]
    assert container["args"][:1] == ["worker"] and "$(JOB_COMPLETION_INDEX)" in container["args"]
