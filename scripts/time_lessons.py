"""Run every lesson top to bottom in full mode and print how long each took: the README's lesson times.

    python scripts/time_lessons.py                 # all lessons, full mode
    python scripts/time_lessons.py 05 06           # only these
    python scripts/time_lessons.py --smoke         # smoke mode, as CI runs them

Each notebook is executed in a fresh kernel (as a learner's *Run All*), with the shipped checkpoints
loaded as usual; nothing is written back to the notebook. The device line of each lesson is printed
too, so the times can be reported with the machine they came from.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vaecourse import runtime  # noqa: E402

NOTEBOOKS = REPO / "notebooks"


def device_line(notebook: nbformat.NotebookNode) -> str:
    """The line a lesson printed about its device ("Using CPU …" / "Using CUDA …"), if any."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith("Using "):
                    return line
    return ""


def run_lesson(path: Path, timeout_s: int) -> tuple[float, str]:
    """Execute ``path`` in a fresh kernel from the notebooks folder; return (seconds, device line)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout_s, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    # No stand-in for the browser's Output widgets: emulating them, nbclient sends comm messages to the kernel
    # while a cell runs, and now and then a widget lesson then waited forever for a cell the kernel had long
    # finished (lessons 05 and 10, twice each in about ten full runs). Timing needs no widget outputs.
    client.widget_registry = {}
    start = time.perf_counter()
    client.execute(stderr=subprocess.DEVNULL)  # the kernel's own log lines are not the lesson's output
    return time.perf_counter() - start, device_line(notebook)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers such as 01 05 (default: all)")
    parser.add_argument("--smoke", action="store_true", help="smoke mode (tiny data and epochs), as in CI")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds allowed per cell")
    args = parser.parse_args()
    os.environ["VAECOURSE_SMOKE"] = "1" if args.smoke else "0"
    paths = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")
                   if not args.lessons or p.name[:2] in args.lessons)
    if not paths:
        sys.exit(f"No lesson matches {args.lessons} in {NOTEBOOKS.relative_to(REPO)}/.")
    print(f"{'smoke' if args.smoke else 'full'} mode; {runtime.device_record(runtime.get_device())}, "
          f"torch {torch.__version__}")
    total = 0.0
    for path in paths:
        try:
            seconds, device = run_lesson(path, args.timeout)
        except CellExecutionError as error:
            sys.exit(f"{path.name} failed:\n{str(error)[-2000:]}")
        total += seconds
        print(f"{path.name}: {seconds:.0f} s  {device}", flush=True)
    print(f"all {len(paths)} lessons: {total:.0f} s")


if __name__ == "__main__":
    main()
