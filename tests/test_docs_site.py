"""The docs site builds in MkDocs' strict mode (no broken link or anchor, no page left out of the
navigation), and the README stays a front page whose links to the docs resolve."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()
README_MAX_LINES = 260

pytest.importorskip("mkdocs", reason="mkdocs comes with the docs extra (part of the test extra)")


def build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )


def nav_pages(nav: list[object]) -> set[str]:
    pages: set[str] = set()
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            pages |= nav_pages(value)
        elif isinstance(value, str):
            pages.add(value)
    return pages


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    result = build(ROOT, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "configuration" / "index.html").exists()


def test_every_page_is_in_the_navigation() -> None:
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = {
        path.relative_to(DOCS).as_posix()
        for path in DOCS.rglob("*.md")
        if DOCS / "results" not in path.parents  # raw benchmark outputs, linked from pages
    }
    assert pages == nav_pages(config["nav"])


@pytest.mark.parametrize(
    ("rot", "message"),
    [
        ("[gone](no-such-page.md)", "no-such-page.md"),
        ("[gone](api.md#no-such-heading)", "no-such-heading"),
        (None, "orphan.md"),
    ],
    ids=["link", "anchor", "page-not-in-nav"],
)
def test_a_rotten_link_or_an_orphan_page_fails_the_build(
    tmp_path: Path, rot: str | None, message: str
) -> None:
    """Proves the strict build catches what the test above relies on it to catch."""
    project = tmp_path / "project"
    shutil.copytree(DOCS, project / "docs")
    shutil.copy(ROOT / "mkdocs.yml", project / "mkdocs.yml")
    if rot is None:
        (project / "docs" / "orphan.md").write_text("# Orphan\n")
    else:
        with (project / "docs" / "index.md").open("a") as index:
            index.write(f"\nSee {rot}.\n")
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert message in result.stderr


def test_the_readme_is_a_front_page() -> None:
    lines = len(README.splitlines())
    assert lines <= README_MAX_LINES, f"README has {lines} lines; move detail into docs/"


def test_every_file_the_readme_links_to_exists() -> None:
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", README)
    local = [target for target in targets if "://" not in target]
    assert any(target.startswith("docs/") for target in local)
    for target in local:
        assert (ROOT / target).exists(), f"README links to {target}, which does not exist"
