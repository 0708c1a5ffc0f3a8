"""The tests' small kustomize (``tests/deploy/kustomize.py``): its merge rules one by one, and the
same rendering as the real kustomize (``kubectl kustomize``) for every kustomization shipped."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.kustomize import render, set_image, strategic_merge

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KUSTOMIZATIONS = sorted(path.parent for path in K8S.rglob("kustomization.yaml"))


def test_maps_merge_key_by_key_and_a_null_deletes() -> None:
    base = {"a": 1, "b": {"c": 2, "d": 3}, "e": 4}
    assert strategic_merge(base, {"b": {"c": 5}, "e": None, "f": 6}) == {
        "a": 1, "b": {"c": 5, "d": 3}, "f": 6,
    }  # fmt: skip
    assert base == {"a": 1, "b": {"c": 2, "d": 3}, "e": 4}  # not changed in place


def test_named_lists_merge_by_name_and_patch_delete_removes_an_item() -> None:
    base = {"env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]}
    patch = {"env": [{"name": "A", "$patch": "delete"}, {"name": "C", "value": "3"},
                     {"name": "B", "value": "4"}]}  # fmt: skip
    assert strategic_merge(base, patch)["env"] == [
        {"name": "C", "value": "3"}, {"name": "B", "value": "4"},
    ]  # fmt: skip


def test_containers_merge_by_name_down_to_their_fields() -> None:
    base = {"containers": [{"name": "tts", "image": "x:cpu", "resources": {"limits": {"cpu": 2}}}]}
    patch = {"containers": [{"name": "tts", "resources": {"limits": {"gpu": 1}}}]}
    assert strategic_merge(base, patch) == {
        "containers": [
            {"name": "tts", "image": "x:cpu", "resources": {"limits": {"cpu": 2, "gpu": 1}}}
        ]
    }


def test_other_lists_are_replaced_whole() -> None:
    base = {"metrics": [{"type": "Resource"}], "tolerations": [{"key": "a"}]}
    patch = {"metrics": [{"type": "Pods"}]}
    assert strategic_merge(base, patch) == {
        "metrics": [{"type": "Pods"}],
        "tolerations": [{"key": "a"}],
    }


@pytest.mark.parametrize(
    ("image", "entry", "expected"),
    [
        ("registry.example.com/tts:cpu", {"newTag": "gpu"}, "registry.example.com/tts:gpu"),
        ("registry.example.com/tts:cpu", {"newName": "mine/tts"}, "mine/tts:cpu"),
        ("registry.example.com:5000/tts", {"newTag": "gpu"}, "registry.example.com:5000/tts:gpu"),
        ("other/image:cpu", {"newTag": "gpu"}, "other/image:cpu"),
    ],
)
def test_images_change_the_name_or_tag_of_matching_containers(
    image: str, entry: dict[str, str], expected: str
) -> None:
    name = "registry.example.com:5000/tts" if ":5000" in image else "registry.example.com/tts"
    doc: dict[str, Any] = {"spec": {"template": {"spec": {"containers": [{"image": image}]}}}}
    set_image(doc, {"name": name, **entry})
    assert doc["spec"]["template"]["spec"]["containers"][0]["image"] == expected


def test_what_it_does_not_support_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(ValueError, match="namePrefix"):
        render(tmp_path)


def sorted_lists(value: Any) -> Any:
    """``value`` with named lists in name order: the order of merged items is no one's contract."""
    if isinstance(value, dict):
        return {key: sorted_lists(item) for key, item in value.items()}
    if isinstance(value, list):
        items = [sorted_lists(item) for item in value]
        if all(isinstance(item, dict) and "name" in item for item in items):
            items.sort(key=lambda item: item["name"])
        return items
    return value


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: str(p.relative_to(K8S)))
def test_renders_what_kubectl_kustomize_renders(directory: Path) -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(directory)], capture_output=True, text=True, check=True
    )
    theirs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    key = lambda doc: (doc["kind"], doc["metadata"]["name"])  # noqa: E731
    assert sorted_lists(sorted(render(directory), key=key)) == sorted_lists(sorted(theirs, key=key))
