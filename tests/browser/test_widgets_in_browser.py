"""The lessons' widgets, tested in a real JupyterLab in headless Chromium.

nbval runs every cell but never renders a widget or moves a slider. Here, for every lesson that
displays a widget, the test opens the notebook in JupyterLab (kernel in smoke mode), runs
*Run > Run All Cells*, then moves the first slider (or dropdown) of every widget with the keyboard
and checks that the plot it shows is redrawn and that no error appears: no Python traceback, no
"Error displaying widget" / "Failed to load model class" box, no widget error in the browser
console. Screenshots before and after each move are saved in ``artifacts/browser/``.

Lessons are found by scanning ``notebooks/`` for widget code, so a new lesson's widgets are
tested as soon as the notebook exists. Lessons 03 (KL widget), 05 (latent explorer), 07 (collapse
widget) and 10 (anomaly threshold slider) must have one. Run with ``make browser-test``.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
from lab_page import LessonPage, LessonProblem
from labserver import REPO
from widget_lessons import NOTEBOOKS, widget_lessons

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "widget_fixture.ipynb"
REQUIRED_WIDGETS = {"03": "KL divergence widget", "05": "latent explorer", "07": "collapse widget",
                    "10": "anomaly threshold slider"}
WIDGET_LESSONS = widget_lessons()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run_and_move_every_widget(lab, page, artifacts, path: Path) -> list:
    """Open ``path`` in JupyterLab, Run All, move every widget; return the WidgetChange of each."""
    relative = path.relative_to(REPO).as_posix()
    lesson = LessonPage(page, lab.url(f"/lab/tree/{relative}"), path.stem, artifacts)
    started = time.monotonic()
    try:
        lesson.open()
        lesson.run_all()
        ran = time.monotonic() - started
        lesson.assert_no_errors("after Run All Cells")
        outputs = lesson.widget_outputs()
        if not outputs:
            raise lesson.fail("the notebook has widget code, but after Run All no slider or dropdown is shown")
        changes = [lesson.move_control(i, output) for i, output in enumerate(outputs)]
        lesson.assert_no_errors("after moving every widget")
        lesson.screenshot("final")
    finally:
        lab.shut_down_kernels(relative)
    print(f"\n{path.name}: open + Run All {ran:.1f} s; " + "; ".join(
        f"widget {c.index}: {c.control} {c.before} -> {c.after}, redrawn in {c.seconds:.1f} s" for c in changes))
    return changes


@pytest.mark.parametrize("path", WIDGET_LESSONS or [pytest.param(None, marks=pytest.mark.skip(
    reason="no lesson in notebooks/ displays a widget yet"))], ids=lambda p: p.name if p else "none")
def test_lesson_widgets_redraw_without_errors(path, lab, page, artifacts):
    before = digest(path)
    changes = run_and_move_every_widget(lab, page, artifacts, path)
    assert changes
    assert digest(path) == before, f"{path.name} was modified on disk by the browser run (autosave must be off)"


@pytest.mark.parametrize("number", sorted(REQUIRED_WIDGETS))
def test_required_lessons_have_widgets(number):
    found = sorted(NOTEBOOKS.glob(f"{number}_*.ipynb"))
    if not found:
        pytest.skip(f"lesson {number} is not written yet; its {REQUIRED_WIDGETS[number]} is tested once it exists")
    assert found[0] in WIDGET_LESSONS, f"{found[0].name} should display its {REQUIRED_WIDGETS[number]}"


def test_harness_sees_redraws_and_catches_a_broken_widget(lab, page, artifacts):
    """Self-check on a fixture notebook: a working widget passes, a widget that raises is reported."""
    relative = FIXTURE.relative_to(REPO).as_posix()
    lesson = LessonPage(page, lab.url(f"/lab/tree/{relative}"), "selfcheck_fixture", artifacts)
    try:
        lesson.open()
        lesson.run_all()
        lesson.assert_no_errors("after Run All Cells")
        slider, dropdown, broken = lesson.widget_outputs()
        change = lesson.move_control(0, slider)
        assert (change.control, change.before, change.after) == ("slider 'mean'", "0.00", "0.50")
        change = lesson.move_control(1, dropdown)
        assert (change.control, change.before, change.after) == ("dropdown 'width'", "narrow", "wide")
        with pytest.raises(LessonProblem, match=r"(?s)ValueError.*deliberate failure"):
            lesson.move_control(2, broken)
    finally:
        lab.shut_down_kernels(relative)
