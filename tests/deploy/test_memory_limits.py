"""The shipped memory limits hold what a replica may need at most with its default settings
(``Settings.replica_memory_mb``, the figure docs/operations.md states): a replica
killed for memory takes every stream on it down."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.deploy.kustomize import render
from tts_service.config import Settings

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
COMPOSE_UNITS = {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}
"""Bytes per unit: Kubernetes quantities, and Compose's byte values (binary, in either case)."""


def megabytes(quantity: str, units: dict[str, float] = KUBERNETES_UNITS) -> float:
    match = re.fullmatch(r"([\d.]+)([a-zA-Z]*)", quantity)
    assert match, quantity
    number, unit = match.groups()
    return float(number) * units[unit if units is KUBERNETES_UNITS else unit.lower()] / 1e6


def test_the_documented_figure_is_the_one_computed_from_the_defaults() -> None:
    figure = round(Settings().replica_memory_mb)
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert f"needs at most {figure:,} MB**" in operations


def test_compose_gives_each_replica_at_least_the_memory_it_may_need() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    limit = compose["services"]["tts"]["deploy"]["resources"]["limits"]["memory"]
    assert megabytes(str(limit), COMPOSE_UNITS) >= Settings().replica_memory_mb


@pytest.mark.parametrize("kustomization", ["base", "overlays/gpu", "overlays/queue-depth"])
def test_kubernetes_gives_each_pod_at_least_the_memory_it_may_need(kustomization: str) -> None:
    (deployment,) = [
        d for d in render(ROOT / "deploy" / "k8s" / kustomization) if d["kind"] == "Deployment"
    ]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    resources = container["resources"]
    assert megabytes(resources["limits"]["memory"]) >= Settings().replica_memory_mb
    assert megabytes(resources["requests"]["memory"]) <= megabytes(resources["limits"]["memory"])


def test_quantities_are_read_in_their_units() -> None:
    assert megabytes("2Gi") == pytest.approx(2147.48, abs=0.01)
    assert megabytes("2g", COMPOSE_UNITS) == megabytes("2G", COMPOSE_UNITS) == megabytes("2Gi")
    assert megabytes("2500M") == 2500
    assert megabytes("1536Mi") == pytest.approx(1610.61, abs=0.01)
