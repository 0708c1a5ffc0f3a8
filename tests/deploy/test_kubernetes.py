"""The Kubernetes manifests as they are applied (each kustomization of ``deploy/k8s`` rendered:
the base and its overlays), validated offline against the Kubernetes API schemas
(kubernetes-validate, strict: unknown fields fail) and checked for what the deployment relies on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from tests.deploy.kustomize import render

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUSTOMIZATIONS = ["base", "overlays/gpu", "overlays/queue-depth"]
OLDEST_KUBERNETES = "1.29.0"  # the oldest release still validated; autoscaling/v2 is older


def one(kustomization: str, kind: str) -> dict[str, Any]:
    (doc,) = [d for d in render(K8S / kustomization) if d["kind"] == kind]
    return doc


def test_every_kustomization_is_tested() -> None:
    found = {str(p.parent.relative_to(K8S)) for p in K8S.rglob("kustomization.yaml")}
    assert found == set(KUSTOMIZATIONS)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
@pytest.mark.parametrize("version", [OLDEST_KUBERNETES, kubernetes_validate.latest_version()])
def test_manifest_is_valid_kubernetes(kustomization: str, version: str) -> None:
    for doc in render(K8S / kustomization):
        kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_each_kustomization_is_a_whole_deployment(kustomization: str) -> None:
    kinds = sorted(doc["kind"] for doc in render(K8S / kustomization))
    assert kinds == ["Deployment", "HorizontalPodAutoscaler", "Service"]


@pytest.mark.parametrize("path", ["base", "overlays/gpu"])
def test_deployment_is_ready_only_once_the_model_is_warm(path: str) -> None:
    deployment = one(path, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8880}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": "http"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001  # the Containerfile's user
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


def test_cpu_deployment_uses_one_inference_thread_per_core_of_its_limit() -> None:
    (container,) = one("base", "Deployment")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["TTS_ONNX_THREADS"]["valueFrom"]["resourceFieldRef"]["resource"] == "limits.cpu"
    assert container["image"].endswith(":cpu")


def test_gpu_deployment_asks_for_a_gpu_and_replaces_the_cpu_one() -> None:
    gpu, cpu = one("overlays/gpu", "Deployment"), one("base", "Deployment")
    (container,) = gpu["spec"]["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["image"].endswith(":gpu")
    assert gpu["metadata"]["name"] == cpu["metadata"]["name"]
    assert gpu["spec"]["selector"] == cpu["spec"]["selector"]


def test_service_and_autoscalers_point_at_the_deployment() -> None:
    deployment = one("base", "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = one("base", "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    for path in ("base", "overlays/queue-depth"):
        target = one(path, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
        assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_the_queue_depth_autoscaler_uses_a_metric_the_service_exports() -> None:
    from tts_service.metrics import Metrics

    hpa = one("overlays/queue-depth", "HorizontalPodAutoscaler")
    (metric,) = hpa["spec"]["metrics"]
    exported = {m.name for m in Metrics().registry.collect()}
    assert metric["pods"]["metric"]["name"] in exported


@pytest.mark.parametrize("path", ["base", "overlays/gpu"])
def test_a_stopping_pod_is_not_killed_before_its_streams_have_had_their_grace_period(
    path: str,
) -> None:
    """Kubernetes kills the pod terminationGracePeriodSeconds after it starts stopping it: that
    must cover the preStop sleep, TTS_SHUTDOWN_GRACE (as set there, or its default) and the
    server's exit margin, within which it is gone whatever still runs."""
    from tts_service.config import Settings
    from tts_service.server import EXIT_MARGIN_S

    pod = one(path, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    pre_stop = float(container["lifecycle"]["preStop"]["exec"]["command"][-1])
    grace = float(next((e["value"] for e in container.get("env", [])
                        if e["name"] == "TTS_SHUTDOWN_GRACE"), Settings().shutdown_grace))  # fmt: skip
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + grace + EXIT_MARGIN_S
