"""`make lab` really starts JupyterLab on the lessons: run it headless and ask for lesson 01.

The test runs the Makefile's own ``lab`` recipe (skipping the install step, which ``make test``
has just done) with a private Jupyter config that picks a free local port and a random token,
requests the lesson-01 page and the notebook itself, and stops the server.
"""

import shutil
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from labserver import REPO, start_lab  # noqa: E402

LESSON_01 = "01_autoencoders.ipynb"


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_lab_serves_lesson_01(tmp_path):
    venv = Path(sys.prefix)
    assert (venv / "bin" / "jupyter").exists(), f"no jupyter in {venv}: install the package with its 'lab' extra"
    command = ["make", "--no-print-directory", "-o", "install", f"VENV={venv}", "lab"]
    server = start_lab(command, tmp_path, REPO / "notebooks", timeout=120)
    try:
        status, page = server.get(f"/lab/tree/{LESSON_01}")
        assert status == 200, f"/lab/tree/{LESSON_01} answered {status}\n{server.log_tail()}"
        assert "JupyterLab" in page and '"appName"' in page, "the answer is not the JupyterLab page"
        status, body = server.get(f"/api/contents/{LESSON_01}?content=0")
        assert status == 200, f"lesson 01 is not served from notebooks/ ({status}): {body[:300]}"
        status, body = server.get("/api/kernelspecs")
        assert status == 200 and '"python3"' in body, f"no python3 kernel offered: {body[:300]}"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{server.base_url}/api/contents/{LESSON_01}", timeout=30)
        assert refused.value.code == 403, "the server must refuse requests without the token"
    finally:
        server.stop()
    assert server.process.returncode is not None, "the server did not stop"
