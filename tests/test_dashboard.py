"""optuna-dashboard for real: ``dfu-search dashboard`` serving a finished study to headless Chromium.

Chromium is Debian's (``scripts/system-deps.sh`` installs it), driven by Playwright with
``executable_path``: no browser download. The screenshots land in ``test-artifacts/`` (CI keeps
that folder) so a person can look at what the browser saw.
"""

from __future__ import annotations

import os
import shutil
import socket
import urllib.request
from pathlib import Path

import optuna
import pytest
from _cli import Background, load, wait_for

REPO = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(os.environ.get("DFU_SEARCH_TEST_ARTIFACTS", REPO / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def dashboard(preset_study, tmp_path: Path):
    """The dashboard on all interfaces (to see the warning), reached through loopback."""
    port = _free_port()
    server = Background("dashboard", "--storage", preset_study.url, "--host", "0.0.0.0", "--port", port, cwd=tmp_path)
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/api/studies") or server.poll() is not None, 60, "dashboard")
        assert server.poll() is None, server.output_path.read_text()
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.kill()


def test_dashboard_shows_the_study_the_pruned_trial_and_its_learning_curve(preset_study, dashboard) -> None:
    from playwright.sync_api import expect, sync_playwright

    base, server = dashboard
    study = load(preset_study.url, "presets")
    pruned = next(t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED)
    curve = next(
        m
        for m in optuna.artifacts.get_all_artifact_meta(pruned, storage=study._storage)
        if m.filename == "learning-curve.png"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/dashboard/studies/{study._study_id}")
            expect(page.get_by_text("presets", exact=False).first).to_be_visible(timeout=30_000)
            # the history plot has drawn its markers, not just its frame
            page.wait_for_function("document.querySelectorAll('.scatterlayer .point').length > 0", timeout=30_000)
            page.screenshot(path=SCREENSHOTS / "dashboard-study.png")

            page.goto(f"{base}/dashboard/studies/{study._study_id}/trials")
            page.get_by_text(f"Trial {pruned.number}", exact=True).first.click()
            expect(page.get_by_text("Pruned").first).to_be_visible(timeout=30_000)
            image = page.locator(f"img[src*='{curve.artifact_id}']")
            expect(image).to_be_visible(timeout=30_000)
            image.scroll_into_view_if_needed()
            page.wait_for_function(
                "img => img.complete && img.naturalWidth > 600", arg=image.element_handle(), timeout=30_000
            )
            page.screenshot(path=SCREENSHOTS / "dashboard-pruned-trial.png")  # the viewport, scrolled to the artifacts
        finally:
            browser.close()
    server.kill()
    output = server.output_path.read_text()
    assert "warning: the dashboard on 0.0.0.0" in output and "no authentication" in output
