"""The tests' own layout: no test module imports another. What tests share lives in helper modules
(``tests/helpers.py``, ``tests/bad_inputs.py``, ``tests/unit/standin.py``...) or in a
``conftest.py``; a test that must run against several servers takes a parametrized fixture instead
of being imported (and collected) a second time."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"


def imported_test_modules(path: Path, source: str) -> list[str]:
    """The test modules (``test_*``) and test functions of our ``tests`` package that ``source``,
    the module at ``path``, imports, as dotted names."""
    package = path.relative_to(ROOT).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else ()
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = [module, *(f"{module}.{alias.name}" for alias in node.names)]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "tests" and any(part.startswith("test_") for part in parts):
                found.append(name)
                break
    return found


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("tests/unit/test_a.py", "from .test_b import helper", ["tests.unit.test_b"]),
        ("tests/unit/test_a.py", "from . import test_b", ["tests.unit.test_b"]),
        (
            "tests/unit/test_a.py",
            "from ..integration.test_c import x",
            ["tests.integration.test_c"],
        ),
        ("tests/unit/test_a.py", "import tests.integration.test_c", ["tests.integration.test_c"]),
        ("tests/integration/test_a.py", "from tests.x import test_it", ["tests.x.test_it"]),
        ("tests/unit/test_a.py", "from .conftest import ClientFactory", []),
        ("tests/unit/test_a.py", "from .standin import StandInBackend", []),
        ("tests/unit/test_a.py", "from tests.helpers import decode", []),
        ("tests/unit/test_a.py", "from tests.integration.conftest import start_server", []),
        ("tests/unit/test_a.py", "from tts_service.app import create_app", []),
        ("tests/unit/test_a.py", "import test_utils", []),  # not ours
    ],
)
def test_the_import_check_finds_test_modules_and_only_them(
    path: str, source: str, expected: list[str]
) -> None:
    assert imported_test_modules(ROOT / path, source) == expected


def test_no_test_module_imports_another() -> None:
    offenders = {
        str(path.relative_to(ROOT)): found
        for path in sorted(TESTS.rglob("*.py"))
        if (found := imported_test_modules(path, path.read_text()))
    }
    assert offenders == {}, "move what they share into a helper module or a conftest.py"
