"""Start a private JupyterLab server for a test, and stop it again.

Used by ``test_lab_server.py`` (does ``make lab`` come up?) and by the browser tests in
``tests/browser/``. The server listens on a free port of 127.0.0.1 only, requires a random
token, and gets its own throw-away Jupyter config, runtime and settings folders, so neither
the learner's settings nor a second server on the machine can change what the test sees.
Everything is configured through ``jupyter_server_config.json`` in that private config
folder, which means the very command a learner types (``make lab``) can be tested as is.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# JupyterLab user settings that keep a test quiet and harmless: no autosave (a test must never
# write outputs into a lesson), no news or update toasts over the notebook (they would also need
# the network), and every cell attached to the page (no windowing), so a test finds every output.
QUIET_LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True,
    },
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LabServer:
    """A running JupyterLab: its process, address and token, and the file its log goes to."""

    process: subprocess.Popen
    port: int
    token: str
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """``path`` on this server with the token attached (``/lab/tree/x.ipynb`` -> full URL)."""
        separator = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{separator}token={self.token}"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"

    def get(self, path: str, timeout: float = 30, method: str = "GET") -> tuple[int, str]:
        """HTTP GET (or ``method``) ``path`` with the token: (status code, body)."""
        request = urllib.request.Request(self.url(path), method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode("utf-8", "replace")

    def shut_down_kernels(self, notebook_path: str) -> None:
        """End the sessions (and kernels) of one notebook, given relative to the server root."""
        status, body = self.get("/api/sessions")
        if status == 200:
            for session in json.loads(body):
                if session.get("path") == notebook_path:
                    self.get(f"/api/sessions/{session['id']}", method="DELETE")

    def stop(self, timeout: float = 20) -> None:
        """Stop the server and everything it started (its kernels too)."""
        if self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=timeout)
        except ProcessLookupError:
            pass


def private_jupyter_env(home: Path, port: int, token: str, root_dir: Path,
                        lab_settings: dict | None = None, expose_app: bool = False,
                        allow_root: bool = False) -> dict[str, str]:
    """Environment variables that point Jupyter at fresh folders under ``home`` holding our config."""
    config_dir, settings_dir = home / "config", home / "lab-settings"
    config = {
        "ServerApp": {"ip": "127.0.0.1", "port": port, "port_retries": 0, "open_browser": False,
                      "root_dir": str(root_dir), "allow_root": allow_root},
        "IdentityProvider": {"token": token},
        "LabApp": {"check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                   "expose_app_in_browser": expose_app},
    }
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "jupyter_server_config.json").write_text(json.dumps(config, indent=1))
    for name, values in (lab_settings or {}).items():
        path = settings_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(os.environ)
    env.update(JUPYTER_CONFIG_DIR=str(config_dir), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_DATA_DIR=str(home / "data"), JUPYTERLAB_SETTINGS_DIR=str(settings_dir),
               JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"), JUPYTER_PLATFORM_DIRS="1",
               JUPYTER_PREFER_ENV_PATH="0",
               PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.pop("JUPYTER_PATH", None)
    return env


def start_lab(command: list[str], home: Path, root_dir: Path, *, env_extra: dict[str, str] | None = None,
              lab_settings: dict | None = None, expose_app: bool = False, allow_root: bool = False,
              timeout: float = 180, cwd: Path = REPO) -> LabServer:
    """Run ``command`` (a JupyterLab launcher) with a private config, and wait until it answers.

    Raises ``RuntimeError`` with the server log if it exits or does not answer within ``timeout`` s.
    """
    port, token = free_port(), secrets.token_hex(16)
    env = private_jupyter_env(home, port, token, root_dir, lab_settings, expose_app, allow_root)
    env.update(env_extra or {})
    log_path = home / "server.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = LabServer(process, port, token, log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            if "Running as root is not recommended" in server.log_tail():
                raise RuntimeError("JupyterLab refused to start because this user is root (uid 0, as in containers "
                                   "and CI). Let the launcher pass --allow-root when `id -u` is 0.\n"
                                   f"Command: {' '.join(command)}\nLog:\n{server.log_tail(1500)}")
            raise RuntimeError(f"JupyterLab exited with code {process.returncode} before answering.\n"
                               f"Command: {' '.join(command)}\nLog:\n{server.log_tail()}")
        try:
            if server.get("/api/status", timeout=5)[0] == 200:
                return server
        except OSError:
            pass
        time.sleep(0.5)
    server.stop()
    raise RuntimeError(f"JupyterLab did not answer on port {port} within {timeout:.0f} s.\n"
                       f"Command: {' '.join(command)}\nLog:\n{server.log_tail()}")
