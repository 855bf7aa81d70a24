"""What the dashboard tests do in a page: sign in, check accessibility with axe, take screenshots.

Switches read from the environment are not named JOBQ_*: tests/conftest.py removes every
JOBQ_* variable before the tests run, so that no test reads the machine's jobq settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page

REPO = Path(__file__).resolve().parents[2]
AXE_JS = REPO / "dashboard" / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOT_DIR = REPO / "docs" / "dashboard"
DASHBOARD_DIR_ENV = "DASHBOARD_TEST_DIR"
"""A folder with a dashboard build to serve instead of dashboard/dist."""
SCREENSHOTS_ENV = "DASHBOARD_SCREENSHOTS"
"""`1`: `screenshot()` writes docs/dashboard/NAME.png (the README embeds them); otherwise it does nothing."""
BLOCKING_IMPACTS = ("serious", "critical")


async def sign_in(page: Page, secret: str, path: str = "/ui/") -> None:
    """Open the dashboard at `path` and submit `secret` on its sign-in form.

    The key lives in the page's memory, so every new page load asks for it again, and
    the page signed into is the one the URL named (a shared link).
    """
    await page.goto(path)
    await page.get_by_role("textbox", name="API key").fill(secret)
    await page.get_by_role("button", name="Sign in").click()


async def axe(page: Page) -> None:
    """Run axe-core on the page as it is now; fail on any serious or critical violation, listing them.

    axe goes in through `page.evaluate`, not `page.add_script_tag`: the dashboard's CSP
    (`script-src 'self'`) blocks the inline <script> that add_script_tag writes, while
    Playwright's evaluation comes over the DevTools protocol, which the page's CSP does not
    govern. So axe checks the page under its real CSP (no `bypass_csp` context, which would
    also let through any inline style the CSP blocks for users, and judge a page nobody sees).
    """
    if not AXE_JS.is_file():
        pytest.fail(
            f"{AXE_JS} is missing: install the dashboard's packages (`npm ci` in dashboard/, `make dashboard`)",
            pytrace=False,
        )
    if not await page.evaluate("typeof window.axe === 'object'"):
        # The trailing `void 0` makes the script's value undefined, so Playwright never calls it.
        await page.evaluate(AXE_JS.read_text() + "\n;void 0")
    results: dict[str, Any] = await page.evaluate("async () => await window.axe.run(document)")
    blocking = [v for v in results["violations"] if v["impact"] in BLOCKING_IMPACTS]
    if blocking:
        pytest.fail(f"axe on {page.url}:\n" + "\n".join(_describe(v) for v in blocking), pytrace=False)


def _describe(violation: dict[str, Any]) -> str:
    nodes = violation["nodes"]
    lines = [f"- {violation['id']} ({violation['impact']}): {violation['help']} <{violation['helpUrl']}>"]
    for node in nodes[:5]:
        summary = " ".join(node.get("failureSummary", "").split())
        lines.append(f"    {' '.join(map(str, node['target']))}: {summary}")
    if len(nodes) > 5:
        lines.append(f"    … and {len(nodes) - 5} more")
    return "\n".join(lines)


async def screenshot(page: Page, name: str) -> None:
    """Save the page as docs/dashboard/NAME.png when DASHBOARD_SCREENSHOTS=1, so normal runs leave the tree alone."""
    if os.environ.get(SCREENSHOTS_ENV) != "1":
        return
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=SCREENSHOT_DIR / f"{name}.png", full_page=True, animations="disabled")
