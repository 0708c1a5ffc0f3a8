"""The repository itself: the lock covers what pyproject asks for and is what was installed, no
scratch output is committed, and code and docs speak of the project alone."""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
PROJECT = "tts-service"
# Committed measurement results (JSON series, plots) may be large; nothing else may.
RESULTS = ("docs/results/",)
MAX_BYTES = 1_000_000
VENDORED = ("tts_service/web/vendor/",)
"""Third-party files kept as they were published (each folder's SOURCE.txt says where from)."""


def tracked_files() -> list[str]:
    result = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in result.stdout.split("\0") if name and (ROOT / name).is_file()]


def locked() -> dict[str, str]:
    """Package name → version, from the lock's ``name==version`` lines."""
    pins = {}
    for line in LOCK.read_text().splitlines():
        if match := re.match(r"([A-Za-z0-9_.\-]+)==(\S+)", line):
            pins[canonicalize_name(match[1])] = match[2]
    return pins


def project_requirements() -> list[Requirement]:
    """The base dependencies and every extra's, with this project's self-references expanded."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    found = [Requirement(text) for text in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        found += [Requirement(text) for text in extra]
    return [r for r in found if canonicalize_name(r.name) != PROJECT]


def test_the_lock_pins_every_dependency_within_what_pyproject_allows() -> None:
    """A dependency added to pyproject without refreshing the lock would float to whatever its
    newest release is on the next fresh machine: the lock must pin it, inside pyproject's range."""
    pins = locked()
    missing, outside = [], []
    for requirement in project_requirements():
        name = canonicalize_name(requirement.name)
        # torch is left out of the lock on purpose (CPU or CUDA build) and pinned in pyproject.
        if name == "torch":
            assert str(requirement.specifier).startswith("=="), "torch must be pinned exactly"
            continue
        if name not in pins:
            missing.append(str(requirement))
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            outside.append(f"{requirement} (locked {pins[name]})")
    hint = "refresh the lock: `python -m pip install pip-tools && pip-compile --upgrade`"
    assert not missing, f"not in constraints.txt: {missing}; {hint}"
    assert not outside, f"locked outside pyproject's range: {outside}; {hint}"


def test_the_lock_never_names_torch_or_a_local_index() -> None:
    """torch's build (CPU or CUDA) is the installer's choice, and a lock naming this machine's
    index or wheel folder would fail everywhere else."""
    text = LOCK.read_text()
    assert not re.search(r"^torch==", text, re.MULTILINE)
    assert not re.search(r"^\s*--(extra-)?index-url|^\s*--find-links|file://", text, re.MULTILINE)


# What ``python -m venv`` puts in every environment, whatever the install asked for.
INSTALLERS = {"pip", "setuptools", "wheel"}


def test_the_installed_packages_are_the_locked_versions() -> None:
    """The README's commands install with ``-c constraints.txt``; an environment that drifted from
    the lock (installed without it) is not the one CI tests. Packages not installed are fine: the
    small ``dev`` environment has only some of them."""
    drifted = []
    for name, version in locked().items():
        if name in INSTALLERS:
            continue
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if installed != version:
            drifted.append(f"{name} {installed} (locked {version})")
    assert not drifted, (
        "installed versions differ from constraints.txt: "
        f"{drifted}; reinstall with `python -m pip install -c constraints.txt -e '.[test]'`"
    )


def test_no_large_file_is_committed_outside_the_results_folders() -> None:
    """Regression: a 7.9 MB onnxruntime profile was committed at the root. Scratch output
    (profiles, dumps, recordings) stays out of the repository; results live in results folders."""
    large = [
        f"{name} ({(ROOT / name).stat().st_size:,} bytes)"
        for name in tracked_files()
        if not name.startswith(RESULTS) and (ROOT / name).stat().st_size > MAX_BYTES
    ]
    assert not large, f"tracked files over 1 MB outside {RESULTS}: {large}"


def test_profiler_output_is_ignored() -> None:
    names = ["onnxruntime_profile__2026-01-01_00-00-00_1.json", "run.prof", "out.pstats"]
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", *names], cwd=ROOT, capture_output=True, text=True
    )
    if result.returncode == 128:
        pytest.skip("not a git checkout")
    assert sorted(result.stdout.split()) == sorted(names)


# Issue-tracker references and internal milestone labels mean nothing to a reader of the repository.
TRACKER = re.compile(r"\b(issue|task)s? #?\d+\b|\bP[1-9]\b(?![-\w])", re.IGNORECASE)


def test_code_and_docs_speak_of_the_project_alone() -> None:
    outside = str(ROOT.parent) + "/"
    found = []
    for name in tracked_files():
        if not name.endswith((".py", ".md", ".toml", ".yaml", ".yml", ".sh", ".js", ".html")):
            continue
        if name.startswith(VENDORED):
            continue  # not ours to word
        text = (ROOT / name).read_text(errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            if TRACKER.search(line) or outside in line:
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "references a reader of the repository cannot follow:\n" + "\n".join(found)
