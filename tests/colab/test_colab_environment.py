"""The course in a Colab-like environment: ipywidgets 7.7.1 and the lessons' setup cell.

Colab ships its own torch, torchvision, numpy, matplotlib and ipywidgets 7.7.1, and vaecourse is
not installed there. These tests build such environments as overlays on the main ``.venv`` (see
``overlay_venv.py``; they live under ``build/colab-test/``, ignored by git) and check that

- the widget unit tests pass with ipywidgets 7.7.1 as they do with ipywidgets 8 in the main suite;
- the setup cell, the first cell of every lesson, clones the course (``VAECOURSE_REPO`` points it
  at a snapshot of this working tree instead of GitHub), installs vaecourse, makes it importable,
  and leaves the versions of torch, torchvision, numpy, matplotlib and ipywidgets as they were.

Needs a Python package index (for ipywidgets 7.7.1 and for building the editable install). Run
with ``make colab-test``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from overlay_venv import COLAB_WIDGET_PACKAGES, clean_env, overlay_venv, run, versions

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from widget_lessons import widget_lessons  # noqa: E402

REPO = Path(__file__).resolve().parent.parent.parent
WORK = REPO / "build" / "colab-test"
COLAB_PACKAGES = ["torch", "torchvision", "numpy", "matplotlib", "ipywidgets"]
WIDGET_TEST_MARKERS = re.compile(r"vaecourse\.widgets|from vaecourse import .*\bwidgets\b|import ipywidgets")


def widget_test_files() -> list[Path]:
    """Unit-test files of the main suite that exercise widgets."""
    return [p for p in sorted((REPO / "tests").glob("test_*.py"))
            if WIDGET_TEST_MARKERS.search(p.read_text()) and p.name != "test_colab_compat.py"]


def setup_cell() -> str:
    """The setup cell as the lessons have it (the first cell of lesson 01; all lessons share it)."""
    first = json.loads((REPO / "notebooks" / "01_autoencoders.ipynb").read_text())["cells"][0]
    return "".join(first["source"])


def snapshot_of_working_tree(destination: Path) -> Path:
    """A git repository holding this working tree as it is now (committed or not), as a clone source."""
    listed = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO).stdout
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination / name)
    identity = ["-c", "user.name=colab test", "-c", "user.email=colab-test@localhost", "-c", "commit.gpgsign=false"]
    run(["git", "init", "-q", "-b", "main"], cwd=destination)
    run(["git", "add", "-A"], cwd=destination)
    run(["git", *identity, "commit", "-q", "-m", "snapshot for the Colab setup-cell test"], cwd=destination)
    return destination


@pytest.fixture(scope="module")
def work() -> Path:
    WORK.mkdir(parents=True, exist_ok=True)
    return WORK


@pytest.fixture(scope="module")
def ipywidgets7(work) -> Path:
    """The python of an environment like the main one but with Colab's ipywidgets 7.7.1."""
    return overlay_venv(work / "venv-ipywidgets7", COLAB_WIDGET_PACKAGES)


def test_widget_unit_tests_pass_with_ipywidgets_7(work, ipywidgets7):
    files = widget_test_files()
    if not files:
        pytest.skip("no unit-test file in tests/ exercises widgets yet")
    python = ipywidgets7
    runner = ("import sys, ipywidgets, pytest; "
              "assert ipywidgets.__version__ == '7.7.1', f'got ipywidgets {ipywidgets.__version__}'; "
              "print('ipywidgets', ipywidgets.__version__, 'from', ipywidgets.__file__); "
              "sys.exit(pytest.main(sys.argv[1:]))")
    result = run([python, "-c", runner, "-q", "-p", "no:cacheprovider", *files], cwd=REPO, env=clean_env(),
                 timeout=900)
    print(result.stdout[-2000:])
    assert "ipywidgets 7.7.1 from " + str(work / "venv-ipywidgets7") in result.stdout
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]


@pytest.mark.parametrize("lesson", widget_lessons() or [pytest.param(None, marks=pytest.mark.skip(
    reason="no lesson displays a widget yet"))], ids=lambda p: p.name if p else "none")
def test_widget_lesson_runs_with_ipywidgets_7(lesson, ipywidgets7, tmp_path):
    """The whole lesson under nbval (smoke mode) with a kernel whose ipywidgets is 7.7.1."""
    kernel = tmp_path / "jupyter-data" / "kernels" / "python3"
    kernel.mkdir(parents=True)
    (kernel / "kernel.json").write_text(json.dumps({
        "argv": [str(ipywidgets7), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipywidgets 7.7.1)", "language": "python",
        "env": {"PYTHONPATH": str(REPO)}}))
    env = clean_env(VAECOURSE_SMOKE="1", JUPYTER_DATA_DIR=str(tmp_path / "jupyter-data"),
                    JUPYTER_PREFER_ENV_PATH="0", JUPYTER_PLATFORM_DIRS="1", PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.pop("JUPYTER_PATH", None)
    kernel_version = run([ipywidgets7, "-c", "import ipywidgets; print(ipywidgets.__version__)"],
                         cwd=lesson.parent, env=clean_env(PYTHONPATH=str(REPO))).stdout.strip()
    assert kernel_version == "7.7.1", f"the lesson's kernel would get ipywidgets {kernel_version}"
    result = subprocess.run([str(ipywidgets7), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                             str(lesson)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{lesson.name} fails with ipywidgets 7.7.1:\n{result.stdout[-5000:]}"


def test_setup_cell_installs_vaecourse_and_keeps_colab_versions(work, tmp_path):
    main_before = versions(Path(sys.executable), COLAB_PACKAGES)
    python = overlay_venv(work / "venv-colab", COLAB_WIDGET_PACKAGES)
    content = tmp_path / "content"  # Colab's working folder
    content.mkdir()
    origin = snapshot_of_working_tree(tmp_path / "origin")
    no_vaecourse = run([python, "-c", "import importlib.util; print(importlib.util.find_spec('vaecourse'))"],
                       cwd=content, env=clean_env()).stdout.strip()
    assert no_vaecourse == "None", "vaecourse must not be importable before the setup cell runs"
    before = versions(python, COLAB_PACKAGES, cwd=content)
    assert sorted(before) == sorted(COLAB_PACKAGES) and before["ipywidgets"] == "ipywidgets==7.7.1", before

    cell = content / "setup_cell.ipy"
    cell.write_text(setup_cell() + "\nimport vaecourse\nprint('vaecourse from', vaecourse.__file__)\n")
    env = clean_env(VAECOURSE_REPO=origin.as_uri(), VAECOURSE_SMOKE="1", MPLBACKEND="agg")
    result = run([python, "-m", "IPython", "--quick", "--no-banner", "--colors=nocolor", str(cell)],
                 cwd=content, env=env, timeout=600)
    print("setup cell output:", result.stdout[-1500:], result.stderr[-1500:], sep="\n")
    clone = content / "vae-course"
    assert (clone / "vaecourse" / "__init__.py").is_file(), f"the setup cell did not clone the course:\n{result.stdout}"
    assert f"vaecourse from {clone / 'vaecourse' / '__init__.py'}" in result.stdout, result.stdout + result.stderr

    # A fresh process (a restarted Colab runtime) finds the installed package, with Colab's widgets.
    check = ("import vaecourse, vaecourse.plots, vaecourse.train, ipywidgets; "
             "import importlib.util as u; "
             "w = u.find_spec('vaecourse.widgets'); "
             "w and __import__('vaecourse.widgets'); "
             "print(vaecourse.__file__, ipywidgets.__version__)")
    elsewhere = run([python, "-c", check], cwd=tmp_path, env=clean_env(MPLBACKEND="agg")).stdout.split()
    assert elsewhere == [str(clone / "vaecourse" / "__init__.py"), "7.7.1"], elsewhere

    # Every requirement of vaecourse is met by what Colab already has (the cell installs with --no-deps).
    unmet = run([python, "-c", UNMET_REQUIREMENTS], cwd=tmp_path, env=clean_env()).stdout.strip()
    assert unmet == "[]", f"vaecourse's requirements that a Colab-like set does not meet: {unmet}"

    after = versions(python, COLAB_PACKAGES, cwd=content)
    assert after == before, f"the setup cell changed installed packages:\nbefore {before}\nafter  {after}"

    # Running the cell again (every lesson starts with it) does nothing: no second clone, no reinstall.
    stamp = (clone / ".git").stat().st_mtime_ns
    again = run([python, "-m", "IPython", "--quick", "--no-banner", "--colors=nocolor", str(cell)],
                cwd=content, env=env, timeout=300)
    assert (clone / ".git").stat().st_mtime_ns == stamp and "vaecourse from" in again.stdout
    assert versions(python, COLAB_PACKAGES, cwd=content) == before
    assert versions(Path(sys.executable), COLAB_PACKAGES) == main_before, "the main .venv must stay untouched"


# Run inside the Colab-like environment: which requirements of the installed vaecourse are not met?
UNMET_REQUIREMENTS = """
from importlib import metadata
from packaging.requirements import Requirement
unmet = []
for line in metadata.requires("vaecourse") or []:
    req = Requirement(line)
    if req.marker is not None and not req.marker.evaluate({"extra": ""}):
        continue
    try:
        have = metadata.version(req.name)
    except metadata.PackageNotFoundError:
        unmet.append(f"{req} (missing)")
        continue
    if not req.specifier.contains(have, prereleases=True):
        unmet.append(f"{req} (have {have})")
print(unmet)
"""
