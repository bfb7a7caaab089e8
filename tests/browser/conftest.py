"""Fixtures of the browser tests: one private JupyterLab server and one headless Chromium per run.

The browser is Debian's ``chromium`` (``make browser-deps`` installs it; Playwright's own browser
download is not used). Set ``VAECOURSE_CHROMIUM`` to use another Chromium binary. Screenshots and
the server log land in ``artifacts/browser/`` (ignored by git).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from labserver import QUIET_LAB_SETTINGS, REPO, start_lab  # noqa: E402

ARTIFACTS = REPO / "artifacts" / "browser"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


def chromium_path() -> str:
    path = os.environ.get("VAECOURSE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(f"no Chromium at {path}: run `make browser-deps` (installs Debian's chromium) "
                    "or set VAECOURSE_CHROMIUM to a Chromium binary", pytrace=False)
    return path


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go; each lesson's old ones are replaced when that lesson runs again."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def lab(tmp_path_factory, artifacts):
    """JupyterLab serving the repository root, its kernels in smoke mode, autosave off."""
    home = tmp_path_factory.mktemp("jupyter")
    server = start_lab([sys.executable, "-m", "jupyterlab"], home, REPO, lab_settings=QUIET_LAB_SETTINGS,
                       expose_app=True, allow_root=True, env_extra={"VAECOURSE_SMOKE": "1"})
    status, body = server.get("/lab/api/settings/@jupyterlab/docmanager-extension:plugin")
    if status != 200 or json.loads(body).get("settings", {}).get("autosave") is not False:
        server.stop()
        pytest.fail(f"JupyterLab did not take the test settings (autosave must be off): {status} {body[:300]}")
    yield server
    server.stop()
    shutil.copy(server.log_path, artifacts / "jupyterlab.log")


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS, timeout=60_000)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(60_000)
    yield context.new_page()
    context.close()
