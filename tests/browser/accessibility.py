"""axe-core accessibility checks for any page of the service, in Chromium (Playwright) and
Firefox (Selenium), with the axe.min.js that axe-playwright-python bundles.

Which violations fail: every impact level axe reports (critical, serious, moderate and minor).
The player passes them all, so nothing is waived; a page that cannot may pass ``impacts``
narrower than ``FAILING_IMPACTS``, never narrower than serious and critical.
"""

from __future__ import annotations

from typing import Any

FAILING_IMPACTS = ("critical", "serious", "moderate", "minor")
"""The impact levels that fail a page (all of axe's)."""

RUN_OPTIONS = {"resultTypes": ["violations"]}


def axe_script() -> str:
    from axe_playwright_python.base import AXE_SCRIPT

    return str(AXE_SCRIPT)


def _failing(violations: list[dict[str, Any]], impacts: tuple[str, ...]) -> list[dict[str, Any]]:
    return [v for v in violations if v.get("impact") in impacts]


def chromium_violations(
    page: Any, impacts: tuple[str, ...] = FAILING_IMPACTS
) -> list[dict[str, Any]]:
    """axe's violations on a Playwright page as it is now, at the given impact levels."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=RUN_OPTIONS)
    return _failing(results.response["violations"], impacts)


def firefox_violations(
    driver: Any, impacts: tuple[str, ...] = FAILING_IMPACTS
) -> list[dict[str, Any]]:
    """axe's violations on a Selenium WebDriver's page as it is now, at the given impact levels."""
    driver.execute_script(axe_script())
    driver.set_script_timeout(60)
    results = driver.execute_async_script(
        """const done = arguments[arguments.length - 1];
           axe.run(document, arguments[0])
             .then((results) => done({ violations: results.violations }))
             .catch((error) => done({ error: String(error) }));""",
        RUN_OPTIONS,
    )
    if "error" in results:
        raise RuntimeError(f"axe failed in Firefox: {results['error']}")
    return _failing(results["violations"], impacts)


def describe(violations: list[dict[str, Any]]) -> str:
    """One line a violation, with the elements it names: for an assertion's message."""
    lines = []
    for v in violations:
        targets = ", ".join(str(node["target"]) for node in v["nodes"][:5])
        lines.append(f"{v['id']} ({v['impact']}): {v['help']} [{targets}]")
    return "\n".join(lines)
