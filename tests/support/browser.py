"""The pages a newcomer opens, in Debian's chromium driven by Playwright; screenshots under
`test-output/screenshots/` at the repository root (kept after the run, ignored by git)."""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

from tests.support.system import system_binary

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
WAIT_MS = 60_000


def check_pages(ui_url: str, api_url: str, job_id: int, cid: str, width: int) -> list[Path]:
    """The Dagster UI shows job `job_id`'s render partition materialized, with its metadata
    and its image (`width` pixels wide, fetched through the gateway); the API docs load.
    Returns the screenshots."""
    chromium = system_binary("chromium", "chromium")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    sandbox = [] if os.geteuid() else ["--no-sandbox"]  # chromium's sandbox refuses root
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=sandbox)
        page = browser.new_page(viewport={"width": 1400, "height": 1200})
        try:
            return [
                _render_partition(page, ui_url, job_id, cid, width),
                _api_docs(page, api_url),
            ]
        finally:
            browser.close()


def _render_partition(page: Page, ui_url: str, job_id: int, cid: str, width: int) -> Path:
    page.goto(f"{ui_url}/assets/render?view=partitions&partition={job_id}")
    expect(page.get_by_text("Materialized", exact=True).first).to_be_visible(timeout=WAIT_MS)
    for key in ("result_cid", "worker", "device", "render_seconds"):
        expect(page.get_by_text(key, exact=True).first).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text(cid, exact=True).first).to_be_visible()
    image = page.locator(f'img[src$="/ipfs/{cid}"]')
    expect(image).to_be_visible(timeout=WAIT_MS)
    page.wait_for_function("img => img.complete", arg=image.element_handle(), timeout=WAIT_MS)
    assert image.evaluate("img => img.naturalWidth") == width  # decoded, not a broken icon
    return _screenshot(page, f"dagster-render-partition-{job_id}.png")


def _api_docs(page: Page, api_url: str) -> Path:
    page.goto(f"{api_url}/docs")
    expect(page.get_by_role("heading", name="VeriFrame API").first).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text("/api/v1/jobs/{job_id}/assign").first).to_be_visible()
    return _screenshot(page, "api-docs.png")


def _screenshot(page: Page, name: str) -> Path:
    path = SCREENSHOTS / name
    page.screenshot(path=str(path))
    return path
