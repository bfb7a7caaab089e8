"""Throw-away virtual environments that look like Colab without reinstalling torch.

An *overlay* environment has its own site-packages, holding only a few packages at the versions
under test (ipywidgets 7.7.1, as Colab ships it), and sees the main ``.venv``'s site-packages
*after* its own through a ``.pth`` file. So its own ipywidgets shadows the main one, while torch,
torchvision, numpy, matplotlib, IPython and pytest come from the main environment: seconds to
build instead of gigabytes to download. The main environment's ``.pth`` files are not run there,
so its editable install of ``vaecourse`` is invisible: like on Colab, ``vaecourse`` is not
importable until something installs it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

MAIN_SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])

# What Colab ships for widgets (its ipywidgets 7.7.1 and the packages that version needs).
COLAB_WIDGET_PACKAGES = ["ipywidgets==7.7.1", "widgetsnbextension~=3.6.0", "ipython_genutils==0.2.0"]


def clean_env(**extra: str) -> dict[str, str]:
    """os.environ without variables that would leak the main environment into a subprocess."""
    leaks = {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONNOUSERSITE"}
    env = {name: value for name, value in os.environ.items() if name not in leaks}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONNOUSERSITE="1", **extra)
    return env


def run(command: list, timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    """Run ``command``; on a non-zero exit raise with its whole output, so a failure explains itself."""
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, timeout=timeout, **kwargs)
    if result.returncode != 0:
        raise AssertionError(f"`{' '.join(str(c) for c in command)}` exited with {result.returncode}\n"
                             f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}")
    return result


def overlay_venv(path: Path, packages: list[str]) -> Path:
    """Create a fresh overlay environment at ``path`` with its own ``packages``; return its python."""
    shutil.rmtree(path, ignore_errors=True)
    venv.EnvBuilder(with_pip=False, symlinks=True, clear=True).create(path)
    python = path / "bin" / "python"
    site = Path(run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    env=clean_env()).stdout.strip())
    # .pth files are read in name order and add their lines *after* the site-packages folder itself.
    (site / "zz_main_venv.pth").write_text(f"{MAIN_SITE_PACKAGES}\n")
    if packages:
        # pip comes from the main environment; --ignore-installed keeps it from touching the main copies.
        run([python, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", *packages],
            env=clean_env())
    return python


def versions(python: Path, names: list[str], cwd: Path | None = None) -> dict[str, str]:
    """``pip freeze`` of ``python``'s environment, restricted to ``names`` (lower-case) -> version line."""
    frozen = run([python, "-m", "pip", "freeze", "--all"], env=clean_env(), cwd=cwd).stdout
    found = {}
    for line in frozen.splitlines():
        name = line.split("==")[0].split(" @ ")[0].strip().lower().replace("_", "-")
        if name in names:
            found[name] = line.strip()
    return found
