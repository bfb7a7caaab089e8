"""Drive one notebook in JupyterLab the way a learner does, and report what a learner would see.

``LessonPage`` opens a notebook in a Playwright page, runs it with *Run > Run All Cells*, finds the
widgets in its outputs, moves a slider (keyboard on the slider handle, as a learner would) or picks
another dropdown entry, and tells whether the displayed plot changed and whether any error showed
up: a Python traceback in an output, an ipywidgets error box ("Error displaying widget",
"Failed to load model class"), or a widget error in the browser console.

Every failure raises ``LessonProblem`` with a message that says what was done, what was seen,
and where the screenshots are.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import ElementHandle, Page

# JavaScript run in the page; ``window.jupyterapp`` exists because the server sets
# LabApp.expose_app_in_browser (the same hook JupyterLab's own UI tests use).
JS_KERNEL_STATUS = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel;
  return kernel ? kernel.status : null;
}"""

JS_RUN_STATE = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  // Empty code cells are never executed, so they never get an execution count.
  const cells = panel.content.widgets.filter(c => c.model.type === 'code' && c.model.sharedModel.getSource().trim());
  const errors = [];
  cells.forEach((c, i) => {
    for (const o of c.model.outputs.toJSON()) {
      if (o.output_type === 'error') {
        errors.push({cell: panel.content.widgets.indexOf(c), ename: o.ename, evalue: o.evalue,
                     traceback: (o.traceback || []).join('\\n')});
      }
    }
  });
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return {done: cells.every(c => c.model.executionCount !== null), total: cells.length,
          ran: cells.filter(c => c.model.executionCount !== null).length,
          status: kernel ? kernel.status : null, errors};
}"""

# What a widget displays: its images (matplotlib PNGs) and the text of its output/HTML areas.
# Slider readouts and labels are left out: they change whenever the slider moves.
JS_DISPLAY_SIGNATURE = """(root) => {
  const images = Array.from(root.querySelectorAll('img')).map(i => i.src);
  const texts = Array.from(root.querySelectorAll('.widget-output, .widget-html-content')).map(o => o.innerText);
  return {images: images, text: texts.join('\\n')};
}"""

# Visible errors inside one element: ipywidgets' error box, tracebacks and exceptions in outputs.
JS_VISIBLE_ERRORS = """(root) => {
  const found = [];
  for (const box of root.querySelectorAll('.jupyter-widgets-error-widget')) {
    found.push('widget error box: ' + (box.innerText || box.title || 'Error displaying widget').trim().slice(0, 300));
  }
  const outputs = root.querySelectorAll('.jp-OutputArea-output');
  for (const out of outputs) {
    const mime = out.getAttribute('data-mime-type') || '';
    const text = out.innerText || '';
    if (mime === 'application/vnd.jupyter.error') found.push('error output: ' + text.slice(0, 1500));
    else if (/Error displaying widget|Failed to load model class|Traceback \\(most recent call last\\)/.test(text))
      found.push('in output: ' + text.slice(0, 1500));
    else if (mime === 'application/vnd.jupyter.stderr' && /(^|\\n)\\w*(Error|Exception)\\b/.test(text))
      found.push('stderr: ' + text.slice(0, 1500));
  }
  return Array.from(new Set(found));
}"""

# Top-level output areas of code cells that hold an interactive control (a slider or a dropdown).
WIDGET_OUTPUTS = ".jp-CodeCell .jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output"
CONTROLS = ".widget-slider, .widget-dropdown"
CONSOLE_WIDGET_ERROR = re.compile(r"jupyter-widgets|widget|Failed to load model|Could not create", re.IGNORECASE)


class LessonProblem(AssertionError):
    """What a learner would have seen go wrong, with the screenshots that show it."""


@dataclass
class WidgetChange:
    """What one interaction did: which control moved, from/to which value, and how long the redraw took."""

    index: int
    control: str
    before: str
    after: str
    seconds: float
    screenshots: list[Path] = field(default_factory=list)


class LessonPage:
    """One notebook open in JupyterLab in a browser page."""

    def __init__(self, page: Page, url: str, name: str, artifacts: Path, timeout_s: float = 300):
        self.page, self.url, self.name, self.artifacts, self.timeout_s = page, url, name, artifacts, timeout_s
        self.console_errors: list[str] = []
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.console_errors.append(f"page error: {error}"))
        artifacts.mkdir(parents=True, exist_ok=True)
        for old in artifacts.glob(f"{name}_*"):
            old.unlink()

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.console_errors.append(message.text[:1000])

    def screenshot(self, label: str, element: ElementHandle | None = None) -> Path:
        path = self.artifacts / f"{self.name}_{label}.png"
        try:
            (element or self.page).screenshot(path=str(path))
        except Exception as error:  # a failed screenshot must not hide the real problem
            path.with_suffix(".txt").write_text(f"screenshot failed: {error}")
        return path

    def fail(self, message: str) -> LessonProblem:
        """A LessonProblem for ``message``, with a full-page screenshot and the console log saved."""
        shot = self.screenshot("FAILED")
        (self.artifacts / f"{self.name}_console.txt").write_text("\n\n".join(self.console_errors) or "(empty)")
        return LessonProblem(f"{self.name}: {message}\n(screenshot: {shot}; browser console errors: "
                             f"{self.artifacts / (self.name + '_console.txt')})")

    def open(self) -> None:
        """Load the notebook page and wait until its kernel is idle."""
        self.page.goto(self.url, timeout=self.timeout_s * 1000)
        try:
            self.page.wait_for_function(f"() => ({JS_KERNEL_STATUS})() === 'idle'", timeout=self.timeout_s * 1000)
        except Exception as error:
            raise self.fail(f"the notebook's kernel did not become idle within {self.timeout_s:.0f} s "
                            f"(status {self.page.evaluate(JS_KERNEL_STATUS)!r}): {error}") from None
        # Hide the file browser: more room for the notebook in the screenshots.
        self.page.evaluate("() => window.jupyterapp.commands.execute('application:toggle-left-area')")

    def run_all(self) -> dict:
        """Run > Run All Cells from the menu bar; wait until every code cell ran and the kernel is idle."""
        self.page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        self.page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        deadline = time.monotonic() + self.timeout_s
        while True:
            state = self.page.evaluate(JS_RUN_STATE)
            if state["errors"]:
                first = state["errors"][0]
                raise self.fail(f"cell {first['cell']} raised {first['ename']}: {first['evalue']}\n"
                                f"{strip_ansi(first['traceback'])[-3000:]}")
            if state["done"] and state["status"] == "idle":
                return state
            if time.monotonic() > deadline:
                raise self.fail(f"Run All did not finish within {self.timeout_s:.0f} s: "
                                f"{state['ran']} of {state['total']} code cells ran, kernel {state['status']}")
            time.sleep(0.5)

    def wait_idle(self, timeout_s: float = 120) -> None:
        self.page.wait_for_function(f"() => ({JS_KERNEL_STATUS})() === 'idle'", timeout=timeout_s * 1000)

    def errors_in(self, element: ElementHandle | None = None) -> list[str]:
        """Errors a learner would see inside ``element`` (default: the whole notebook), plus widget console errors."""
        root = element or self.page.query_selector(".jp-NotebookPanel") or self.page.query_selector("body")
        found = root.evaluate(JS_VISIBLE_ERRORS)
        found += [f"browser console: {text}" for text in self.console_errors if CONSOLE_WIDGET_ERROR.search(text)]
        return found

    def assert_no_errors(self, where: str, element: ElementHandle | None = None) -> None:
        found = self.errors_in(element)
        if found:
            raise self.fail(f"{where}: a learner sees an error:\n  " + "\n  ".join(found))

    def widget_outputs(self) -> list[ElementHandle]:
        """Output areas that hold a slider or a dropdown, in notebook order."""
        return [out for out in self.page.query_selector_all(WIDGET_OUTPUTS) if out.query_selector(CONTROLS)]

    def move_control(self, index: int, output: ElementHandle, redraw_timeout_s: float = 90) -> WidgetChange:
        """Move the first slider (or pick the next dropdown entry) of a widget; wait for its display to change."""
        output.scroll_into_view_if_needed()
        self.wait_idle()
        self.page.wait_for_timeout(300)  # let the last redraw reach the page
        before_shot = self.screenshot(f"widget{index}_before", output)
        before = output.evaluate(JS_DISPLAY_SIGNATURE)
        if not before["images"] and not before["text"].strip():
            raise self.fail(f"widget {index} shows nothing (no image, no text) before it is touched")
        started = time.monotonic()
        control, old, new = self._move_first_control(output)
        try:
            self.page.wait_for_function(
                f"([root, before]) => {{ const now = ({JS_DISPLAY_SIGNATURE})(root);"
                " return (now.images.join('|') !== before.images.join('|') || now.text !== before.text)"
                " && (now.images.length > 0 || now.text.trim().length > 0); }",
                arg=[output, before], timeout=redraw_timeout_s * 1000)
        except Exception:
            self.screenshot(f"widget{index}_after", output)
            raise self.fail(f"widget {index}: moving {control} from {old} to {new} did not change the displayed "
                            f"plot or text within {redraw_timeout_s:.0f} s (before: {before_shot})") from None
        seconds = time.monotonic() - started
        self.wait_idle()
        self.page.wait_for_timeout(500)
        after_shot = self.screenshot(f"widget{index}_after", output)
        self.assert_no_errors(f"widget {index} after moving {control} from {old} to {new}", output)
        return WidgetChange(index, control, old, new, seconds, [before_shot, after_shot])

    def _move_first_control(self, output: ElementHandle) -> tuple[str, str, str]:
        slider = output.query_selector(".widget-slider")
        if slider is not None:
            handle = slider.query_selector(".noUi-handle, .ui-slider-handle")
            readout = slider.query_selector(".widget-readout")
            label_element = slider.query_selector(".widget-label")
            label = (label_element.inner_text() if label_element else "").strip() or "(no label)"

            def shown() -> str:  # the readout a learner reads, or the slider's value where it has none
                text = readout.inner_text().strip() if readout else ""
                return text or str(handle.get_attribute("aria-valuenow"))

            old, old_value = shown(), handle.get_attribute("aria-valuenow")
            key = "ArrowLeft" if old_value == handle.get_attribute("aria-valuemax") else "ArrowRight"
            for _attempt in range(2):  # a key press that lands while the page is busy can be lost: try twice
                handle.focus()
                handle.press(key)
                deadline = time.monotonic() + 5
                while handle.get_attribute("aria-valuenow") == old_value and time.monotonic() < deadline:
                    self.page.wait_for_timeout(100)
                if handle.get_attribute("aria-valuenow") != old_value:
                    break
            if handle.get_attribute("aria-valuenow") == old_value:
                raise self.fail(f"pressing {key} on slider '{label}' did not move it (still {old})")
            return f"slider '{label}'", old, shown()
        dropdown = output.query_selector(".widget-dropdown select")
        label_element = output.query_selector(".widget-dropdown .widget-label")
        label = (label_element.inner_text() if label_element else "").strip() or "(no label)"
        options = [(o.get_attribute("value"), o.inner_text()) for o in dropdown.query_selector_all("option")]
        old = dropdown.evaluate("s => s.value")
        others = [(value, text) for value, text in options if value != old]
        if not others:
            raise self.fail(f"dropdown '{label}' has a single option; nothing to pick")
        dropdown.select_option(others[0][0])
        return f"dropdown '{label}'", dict(options)[old], others[0][1]


def strip_ansi(text: str) -> str:
    """Tracebacks from the kernel carry terminal colour codes; drop them for readable messages."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)
