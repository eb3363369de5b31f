"""axe-core (from npm, node_modules/axe-core) in the browser tests: every page they visit can be
checked for accessibility faults, and a serious or critical one fails the test.

``enable_axe`` registers axe as an init script (Playwright injects it outside the page's CSP);
``assert_accessible`` runs it on the page as it is now, after htmx swaps too.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def enable_axe(page: Any) -> None:
    """Load axe into every document this page's context opens from now on."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (axe-core is in package.json)")
    page.context.add_init_script(path=str(AXE))


def _wait_until(page: Any, predicate: str, timeout: float = 10.0) -> None:
    """Poll ``predicate`` from here: ``wait_for_function`` would re-evaluate it with ``eval``,
    which the portal's CSP (no 'unsafe-eval') refuses."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(predicate):
        assert time.monotonic() < deadline, f"never true: {predicate}"
        page.wait_for_timeout(50)


def violations(page: Any) -> list[dict[str, Any]]:
    """axe's serious and critical violations on the current page (WCAG 2.x A and AA rules)."""
    # An htmx swap under a running axe can break its walk of the DOM: wait for htmx to be idle.
    _wait_until(
        page,
        """() => window.axe !== undefined
                 && !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')""",
    )
    result = page.evaluate(
        """() => axe.run(document, {
              runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                              "best-practice"]},
              resultTypes: ["violations"],
            })"""
    )
    return [v for v in result["violations"] if v["impact"] in BLOCKING]


def assert_accessible(page: Any, name: str) -> None:
    """Fail with each blocking violation's rule, help text and first offending elements."""
    found = violations(page)
    detail = [
        f"{v['id']} ({v['impact']}): {v['help']} -> "
        + "; ".join(
            str(node["target"]) + " " + node["failureSummary"][:200] for node in v["nodes"][:3]
        )
        for v in found
    ]
    assert not found, f"{name}: " + "\n".join(detail)
