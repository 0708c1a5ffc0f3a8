"""A small kustomize for the tests: renders what ``deploy/k8s``'s kustomizations use and no more, so
the manifests are checked as they are applied without the ``kustomize`` binary (``kubectl
kustomize``, where installed, must render the same: ``tests/deploy/test_kustomize.py``).

Supported: ``resources`` (files and kustomization directories), ``patches`` given by ``path`` whose
documents are strategic merge patches of one resource each (found by kind and name), and
``images`` (``newName``, ``newTag``), applied in that order. Anything else in a kustomization is an
error rather than silently left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SUPPORTED = {"apiVersion", "kind", "resources", "patches", "images"}
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
}
"""Lists merged item by item on this key, as Kubernetes' strategic merge does; every other list
is replaced whole by the patch's (kustomize does the same for lists without a merge key)."""


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def render(directory: Path) -> list[dict[str, Any]]:
    """The resources the kustomization in ``directory`` stands for."""
    kustomization = documents(directory / "kustomization.yaml")[0]
    if unsupported := set(kustomization) - SUPPORTED:
        raise ValueError(f"{directory}: not supported here: {sorted(unsupported)}")
    resources: list[dict[str, Any]] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        resources += render(path) if path.is_dir() else documents(path)
    for entry in kustomization.get("patches", []):
        if set(entry) != {"path"}:
            raise ValueError(f"{directory}: only patches given by path are supported: {entry}")
        for patch in documents(directory / entry["path"]):
            (index,) = [i for i, doc in enumerate(resources) if same_resource(doc, patch)]
            resources[index] = strategic_merge(resources[index], patch)
    for image in kustomization.get("images", []):
        for doc in resources:
            set_image(doc, image)
    return resources


def same_resource(doc: dict[str, Any], patch: dict[str, Any]) -> bool:
    return (doc["kind"], doc["metadata"]["name"]) == (patch["kind"], patch["metadata"]["name"])


def strategic_merge(base: Any, patch: Any, field: str | None = None) -> Any:
    """``base`` with ``patch`` merged in: maps key by key (a null deletes the key), lists of
    ``MERGE_KEYS`` item by item (``$patch: delete`` removes an item; the patch's items come
    first, in its order, then the base's others), anything else replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = strategic_merge(merged[key], value, key) if key in merged else value
        return merged
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        in_base = {item[key]: item for item in base}
        items = [
            strategic_merge(in_base[item[key]], item) if item[key] in in_base else item
            for item in patch
            if item.get("$patch") != "delete"
        ]
        patched = {item[key] for item in patch}
        return items + [item for item in base if item[key] not in patched]
    return patch


def set_image(doc: dict[str, Any], image: dict[str, str]) -> None:
    """Kustomize's ``images`` entry on the containers of a workload's pod template."""
    pod = doc.get("spec", {}).get("template", {}).get("spec", {})
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        name, tag = container["image"], ""
        if ":" in name.rpartition("/")[2]:  # a tag, not a registry's port
            name, _, tag = name.rpartition(":")
        if name == image["name"]:
            tag = image.get("newTag", tag)
            container["image"] = image.get("newName", name) + (f":{tag}" if tag else "")
