"""JupyterLab in a real browser, for tests: the server's lifecycle and page helpers.

Owns two things:

* :class:`JupyterLab` starts ``python -m jupyter lab`` (the tests' own interpreter;
  ``app="notebook"``: ``jupyter notebook``, Notebook 7) on loopback with every
  Jupyter/IPython directory in a temporary folder, waits until ``/api/status``
  answers, and stops it with ``POST /api/shutdown``, then by its PID. Never by
  name.
* Page helpers for Playwright's sync API (``open_notebook``, ``run_all``,
  ``wait_cells_done``, ``cell_outputs``, ``set_slider`` ...) that act the way a
  person does and read what a person sees.

Recipe and pitfalls: shared/docs/browser-and-notebook-testing.md. Besides those:

* The server runs with ``--LabApp.expose_app_in_browser=True`` so the page has
  ``window.jupyterapp``; :func:`execute_command` runs any JupyterLab command
  through ``window.jupyterapp.commands.execute`` (the reliable route in
  JupyterLab 4.6). :func:`run_all` can also go through the Run menu or the
  command palette, as a person would.
* The notebook's ``windowingMode`` is set to ``"none"``: JupyterLab 4 otherwise
  virtualises long notebooks and cells out of view are not (fully) in the DOM.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # Playwright is only needed once a page exists.
    from playwright.sync_api import Locator, Page
    from typing_extensions import Self

__all__ = [
    "ARTIFACTS_DIR",
    "NOTEBOOK",
    "JupyterLab",
    "JupyterLabError",
    "cell_outputs",
    "code_cells",
    "execute_command",
    "execution_counts",
    "free_port",
    "interrupt_kernel",
    "kernel_status",
    "nudge_slider",
    "open_notebook",
    "run_all",
    "screenshot",
    "set_slider",
    "slider",
    "slider_value",
    "wait_cells_done",
    "wait_kernel_idle",
    "write_notebook",
]

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"

#: The notebook panel a person is looking at. Earlier notebooks restored from a
#: workspace live on in hidden tabs; every selector is scoped to this one.
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"

_PAGE_CONFIG = {
    "disabledExtensions": {
        # "Would you like to get notified about official Jupyter news?" covers the notebook.
        "@jupyterlab/apputils-extension:announcements": True,
        # Would query PyPI; no test needs it.
        "@jupyterlab/extensionmanager-extension:plugin": True,
    }
}

_USER_SETTINGS: dict[str, dict[str, Any]] = {
    # Without it a "Select Kernel" dialog may swallow the first command.
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "autoStartDefaultKernel": True,
        # Keep every cell in the DOM, whatever the notebook's length.
        "windowingMode": "none",
    },
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}


class JupyterLabError(RuntimeError):
    """JupyterLab did not start or stop; the message carries its log's tail."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 for one test session (a context manager).

    ``root_dir`` is where notebooks live (a temporary folder if omitted).
    ``env`` is added to the server's environment; kernels inherit it, so this is
    how a test hands e.g. ``DEEPSEEK_MAGIC_BASE_URL`` to the code in a notebook.
    ``PYTHONPATH`` in ``env`` is prepended to the inherited one. ``unset_env``
    names inherited variables to drop first (``"PREFIX_*"`` drops a prefix), e.g.
    a developer's real API keys. ``JUPYTER_*``/``JPY_*`` are always dropped.

    After :meth:`start`: ``url`` (``http://127.0.0.1:PORT/``), ``token``,
    ``log_path``, ``pid``. Leaving the ``with`` block stops the server and
    deletes its temporary folder (:meth:`cleanup`); :meth:`stop` keeps it.

    ``app="notebook"`` starts Notebook 7 (``python -m jupyter notebook``, the
    same isolation, settings and exposed ``window.jupyterapp``) instead;
    :func:`open_notebook` then opens ``/notebooks/NAME``.
    """

    def __init__(
        self,
        root_dir: str | os.PathLike[str] | None = None,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        token: str | None = None,
        startup_timeout: float = 60.0,
        extra_args: Sequence[str] = (),
        unset_env: Iterable[str] = (),
        app: Literal["lab", "notebook"] = "lab",
    ) -> None:
        if app not in ("lab", "notebook"):
            raise ValueError(f"app must be 'lab' or 'notebook', not {app!r}")
        self.app = app
        self._base = Path(tempfile.mkdtemp(prefix="jlab-test-"))
        self.root_dir = Path(root_dir) if root_dir is not None else self._base / "root"
        self.env = dict(env or {})
        self.port = port
        self.token = token or secrets.token_hex(16)
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args)
        self.unset_env = list(unset_env)
        self.log_path = self._base / "jupyterlab.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._log_offset = 0

    # -- lifecycle ---------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def start(self) -> JupyterLab:
        """Start the server and return once ``/api/status`` answers."""
        if self._proc is not None:
            raise JupyterLabError("already started")
        self.root_dir.mkdir(parents=True, exist_ok=True)
        dirs = self._write_config()
        # A port chosen by free_port() can be taken before the server binds it;
        # --port-retries=0 makes that an exit, so try a fresh port then.
        attempts = 1 if self.port is not None else 3
        for attempt in range(attempts):
            if attempts > 1:
                self.port = free_port()
            self._spawn(dirs)
            try:
                self._wait_ready()
                return self
            except JupyterLabError:
                exited = self._proc is not None and self._proc.poll() is not None
                in_use = "already in use" in self._log_since_spawn()
                self._kill()
                if not (exited and in_use) or attempt == attempts - 1:
                    raise
        raise AssertionError("unreachable")

    def stop(self, timeout: float = 20.0) -> None:
        """Ask the server to shut down (kernels included); then terminate/kill its PID."""
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.poll() is None:
                try:
                    self._request("POST", "api/shutdown", timeout=5)
                except OSError:
                    pass  # It may already be going; the PID decides.
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self._kill()
        finally:
            self._proc = None
            if self._log_file is not None:
                self._log_file.close()
                self._log_file = None

    def cleanup(self) -> None:
        """Stop, then delete the temporary folder (config, logs, default root)."""
        self.stop()
        shutil.rmtree(self._base, ignore_errors=True)

    def _log_since_spawn(self) -> str:
        with open(self.log_path, "rb") as f:
            f.seek(self._log_offset)
            return f.read().decode(errors="replace")

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # -- URLs and files ----------------------------------------------------

    def url_for(self, path: str, **query: str | None) -> str:
        """``url`` + ``path`` with the token; ``None`` values give bare flags (``?reset``)."""
        parts = [k if v is None else f"{k}={urllib.parse.quote(v)}" for k, v in query.items()]
        parts.append(f"token={self.token}")
        return f"{self.url}{urllib.parse.quote(path.lstrip('/'))}?{'&'.join(parts)}"

    def path(self, name: str) -> Path:
        """Where notebook ``name`` lives on disk (inside ``root_dir``)."""
        return self.root_dir / name

    def write_notebook(self, name: str, cells: Iterable[Any], **kwargs: Any) -> Path:
        """:func:`write_notebook` into this server's root dir."""
        return write_notebook(self.path(name), cells, **kwargs)

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10) -> Any:
        """Call the server's REST API (``api/...``) and return the decoded JSON."""
        data = self._request(method, path, body, timeout)
        return json.loads(data) if data else None

    # -- internals ---------------------------------------------------------

    def _write_config(self) -> dict[str, Path]:
        dirs = {
            name: self._base / name
            for name in ("config", "data", "runtime", "ipython", "settings", "workspaces")
        }
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        labconfig = dirs["config"] / "labconfig"
        labconfig.mkdir(exist_ok=True)
        (labconfig / "page_config.json").write_text(json.dumps(_PAGE_CONFIG, indent=1))
        for rel, settings in _USER_SETTINGS.items():
            f = dirs["settings"] / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_text(json.dumps(settings, indent=1))
        return dirs

    def _spawn(self, dirs: dict[str, Path]) -> None:
        env = dict(os.environ)
        # The user's Jupyter must not leak in (nor a parent server's token).
        exact = {n for n in self.unset_env if not n.endswith("*")}
        prefixes = ("JUPYTER_", "JPY_", *(n[:-1] for n in self.unset_env if n.endswith("*")))
        for key in list(env):
            if key in exact or key.startswith(prefixes):
                del env[key]
        extra = dict(self.env)
        if "PYTHONPATH" in extra and env.get("PYTHONPATH"):
            extra["PYTHONPATH"] += os.pathsep + env["PYTHONPATH"]
        env.update(extra)
        env.update(
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            IPYTHONDIR=str(dirs["ipython"]),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
        )
        # Notebook 7's server extension takes the same settings under its own class name.
        app_class = "LabApp" if self.app == "lab" else "JupyterNotebookApp"
        argv = [
            sys.executable, "-m", "jupyter", self.app,
            "--no-browser", "--allow-root",
            "--ip=127.0.0.1", f"--port={self.port}", "--port-retries=0",
            f"--ServerApp.root_dir={self.root_dir}",
            f"--IdentityProvider.token={self.token}",
            f"--{app_class}.user_settings_dir={dirs['settings']}",
            f"--{app_class}.workspaces_dir={dirs['workspaces']}",
            f"--{app_class}.expose_app_in_browser=True",
            "--ServerApp.terminals_enabled=False",
            *self.extra_args,
        ]  # fmt: skip
        if self._log_file is not None:
            self._log_file.close()
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_offset = self._log_file.tell()
        self._log_file.write(f"\n$ {' '.join(argv)}\n".encode())
        self._log_file.flush()
        self._proc = subprocess.Popen(
            argv,
            cwd=self.root_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Own session: a Ctrl-C in pytest reaches the fixture's teardown,
            # which shuts the server down cleanly, rather than the server itself.
            start_new_session=True,
        )

    def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.startup_timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise JupyterLabError(
                    f"JupyterLab exited with code {code} before answering on {self.url}.\n"
                    f"Log ({self.log_path}):\n{self.log_tail()}"
                )
            try:
                self._request("GET", "api/status", timeout=2)
                return
            except (OSError, urllib.error.HTTPError) as e:
                last_error = e
            time.sleep(0.2)
        raise JupyterLabError(
            f"JupyterLab did not answer {self.url}api/status within {self.startup_timeout:.0f} s"
            f" (last error: {last_error!r}).\nLog ({self.log_path}):\n{self.log_tail()}"
        )

    def _request(self, method: str, path: str, body: Any = None, timeout: float = 10) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url_for(path), data=data, method=method,
            headers={"Content-Type": "application/json"} if data else {},
        )  # fmt: skip
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return bytes(resp.read())

    def _kill(self) -> None:
        """Terminate, then kill, the one process we started (by PID)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)  # jupyter_server shuts its kernels down on SIGTERM
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


# -- notebooks on disk -----------------------------------------------------


def write_notebook(
    path: str | os.PathLike[str],
    cells: Iterable[Any],
    *,
    kernel_name: str = "python3",
    metadata: Mapping[str, Any] | None = None,
) -> Path:
    """Write an nbformat-4 notebook and return its path.

    Each item of ``cells`` is a code cell's source (``str``), a ``("markdown", src)``
    / ``("code", src)`` / ``("raw", src)`` pair, or a ready ``nbformat`` cell.
    Trailing newlines of a source are dropped (JupyterLab would show an empty line).
    """
    import nbformat
    from nbformat import v4

    makers: dict[str, Any] = {
        "code": v4.new_code_cell,
        "markdown": v4.new_markdown_cell,
        "raw": v4.new_raw_cell,
    }
    nb_cells: list[Any] = []
    for cell in cells:
        if isinstance(cell, str):
            cell = ("code", cell)
        if isinstance(cell, tuple):
            kind, source = cell
            nb_cells.append(makers[kind](source.rstrip("\n")))
        else:
            nb_cells.append(cell)
    nb: Any = v4.new_notebook(cells=nb_cells)  # type: ignore[no-untyped-call]
    nb.metadata["kernelspec"] = {
        "name": kernel_name,
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    nb.metadata.update(metadata or {})
    nbformat.validate(nb)
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out)  # type: ignore[no-untyped-call]
    return out


# -- page helpers (Playwright sync API) ------------------------------------


def execute_command(
    page: Page, command: str, args: Mapping[str, Any] | None = None, *, wait: bool = True
) -> Any:
    """Run a JupyterLab command by id (``window.jupyterapp.commands.execute``).

    Needs the server started with ``--LabApp.expose_app_in_browser=True``
    (:class:`JupyterLab` does). With ``wait`` it returns the command's JSON-able
    result once its promise settles; beware that for ``runmenu:run-all`` and
    ``notebook:run-all-cells`` that is when every cell has FINISHED. With
    ``wait=False`` it returns as soon as the command has started.
    """
    return page.evaluate(
        """async ([id, args, wait]) => {
            const app = window.jupyterapp;
            if (!app) throw new Error('window.jupyterapp is not exposed: start JupyterLab '
                + 'with --LabApp.expose_app_in_browser=True');
            if (!app.commands.hasCommand(id)) throw new Error('no such JupyterLab command: ' + id);
            const done = app.commands.execute(id, args);
            if (!wait) {
                done.catch(e => console.error('command ' + id + ' failed', e));
                return null;
            }
            const r = await done;
            try { return JSON.parse(JSON.stringify(r ?? null)); } catch { return null; }
        }""",
        [command, dict(args or {}), wait],
    )


def kernel_status(page: Page) -> str:
    """The kernel status as the status bar shows it, e.g. ``"Python 3 (ipykernel) | Idle"``."""
    item = page.locator(".jp-StatusBar-Widget .jp-StatusBar-TextItem", has_text=" | ")
    return item.first.inner_text().strip()


def wait_kernel_idle(page: Page, timeout: float = 30_000) -> None:
    """Wait until the status bar reads ``... | Idle`` (kernel started and not busy)."""
    page.locator(
        ".jp-StatusBar-Widget .jp-StatusBar-TextItem", has_text=re.compile(r"\|\s*Idle\s*$")
    ).first.wait_for(state="visible", timeout=timeout)


def open_notebook(
    page: Page,
    lab: JupyterLab,
    name: str,
    *,
    timeout: float = 45_000,
    file_browser: bool = False,
) -> Locator:
    """Open ``name`` (relative to the root dir) via ``/lab/tree/NAME?reset``; wait for Idle.

    ``?reset`` drops the saved workspace, so notebooks from earlier tests do not
    come back in hidden tabs. The file browser is collapsed unless
    ``file_browser`` (more room for outputs in screenshots). Returns the
    visible notebook panel.

    For a Notebook 7 server (``lab.app == "notebook"``) it opens
    ``/notebooks/NAME`` (one document per page, no workspace, no side panel).
    """
    if lab.app == "notebook":
        return _open_in_notebook7(page, lab, name, timeout)
    page.goto(lab.url_for(f"lab/tree/{name}", reset=None), timeout=timeout)
    panel = page.locator(NOTEBOOK)
    panel.wait_for(state="visible", timeout=timeout)
    # The visible notebook must be this one, not a restored neighbour.
    page.locator(
        ".lm-DockPanel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel",
        has_text=re.compile(rf"^{re.escape(Path(name).name)}$"),
    ).wait_for(state="visible", timeout=timeout)
    wait_kernel_idle(page, timeout)
    if not file_browser:
        page.evaluate("() => window.jupyterapp && window.jupyterapp.shell.collapseLeft()")
    return panel


# Notebook 7 has no status bar. Its toolbar's execution indicator reads "idle" before
# any kernel exists, so the kernel itself must be idle too (and its name shown).
_NB7_IDLE_JS = """() => {
    const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
    const kernel = w && w.sessionContext && w.sessionContext.session
        && w.sessionContext.session.kernel;
    const shown = document.querySelector(
        '.jp-NotebookPanel-toolbar .jp-Notebook-ExecutionIndicator');
    const name = document.querySelector('.jp-NotebookPanel-toolbar .jp-KernelName');
    return !!kernel && kernel.status === 'idle' && !!shown && shown.dataset.status === 'idle'
        && !!name && /ipykernel/.test(name.textContent);
}"""


def _open_in_notebook7(page: Page, lab: JupyterLab, name: str, timeout: float) -> Locator:
    page.goto(lab.url_for(f"notebooks/{name}"), timeout=timeout)
    panel = page.locator(NOTEBOOK)
    panel.wait_for(state="visible", timeout=timeout)
    page.wait_for_function(_NB7_IDLE_JS, timeout=timeout, polling=100)
    return panel


RunVia = Literal["command", "menu", "palette"]


def run_all(page: Page, via: RunVia = "command") -> None:
    """Run all cells of the current notebook; returns as soon as they are queued.

    ``via="command"`` executes ``runmenu:run-all`` through ``window.jupyterapp``
    (fast, no UI state involved); ``"menu"`` clicks Run > Run All Cells;
    ``"palette"`` types "Run All Cells" into the command palette (Ctrl+Shift+C).
    """
    if via == "command":
        # Make the notebook the shell's current widget even after clicks elsewhere.
        page.locator(f"{NOTEBOOK} .jp-Notebook").first.focus()
        # Not awaited: the command's promise settles only when every cell is done.
        execute_command(page, "runmenu:run-all", wait=False)
    elif via == "menu":
        page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
        page.locator(".lm-Menu-item[data-command='runmenu:run-all']").click()
    elif via == "palette":
        page.locator(f"{NOTEBOOK} .jp-Notebook").first.focus()
        page.keyboard.press("Control+Shift+C")
        search = page.locator("#modal-command-palette .lm-CommandPalette-input")
        search.wait_for(state="visible")
        search.fill("Run All Cells")
        item = page.locator(
            "#modal-command-palette .lm-CommandPalette-item",
            has=page.locator(
                ".lm-CommandPalette-itemLabel", has_text=re.compile(r"^Run All Cells$")
            ),
        ).first
        item.click()
    else:
        raise ValueError(f"unknown via={via!r}")


def code_cells(page: Page) -> Locator:
    """All code cells of the visible notebook, in order."""
    return page.locator(f"{NOTEBOOK} .jp-Notebook .jp-CodeCell")


_COUNTS_JS = """(sel) => [...document.querySelectorAll(sel)].map(c => {
    const p = c.querySelector('.jp-InputArea-prompt');
    const m = p && p.textContent.trim().match(/^\\[(\\d+)\\]:?$/);
    return m ? Number(m[1]) : null;
})"""


def execution_counts(page: Page) -> list[int | None]:
    """Each code cell's execution count as its prompt shows it (``None`` for ``[ ]``/``[*]``)."""
    counts: list[int | None] = page.evaluate(_COUNTS_JS, f"{NOTEBOOK} .jp-Notebook .jp-CodeCell")
    return counts


def wait_cells_done(page: Page, timeout: float = 60_000, *, after: int = 0) -> list[int]:
    """Wait until every code cell's prompt shows ``[n]`` with ``n > after``; return the counts.

    Pass ``after=max(execution_counts(page))`` from before a second run, or the
    counts left by the first run satisfy the wait at once.
    """
    sel = f"{NOTEBOOK} .jp-Notebook .jp-CodeCell"
    try:
        page.wait_for_function(
            f"""([sel, after]) => {{
                const counts = ({_COUNTS_JS})(sel);
                return counts.length > 0 && counts.every(n => n !== null && n > after);
            }}""",
            arg=[sel, after],
            timeout=timeout,
            polling=100,
        )
    except Exception as e:  # Playwright's TimeoutError; say which cells are stuck.
        prompts = page.locator(f"{sel} .jp-InputArea-prompt").all_inner_texts()
        raise AssertionError(
            f"cells not done within {timeout / 1000:.0f} s; prompts: {prompts}; "
            f"kernel: {_safe_kernel_status(page)}"
        ) from e
    return [int(n) for n in execution_counts(page) if n is not None]


def _safe_kernel_status(page: Page) -> str:
    try:
        return kernel_status(page)
    except Exception:  # noqa: BLE001 - diagnostics only
        return "?"


def cell_outputs(page: Page, index: int) -> Locator:
    """The output area (``.jp-OutputArea``) of the ``index``-th code cell (0-based)."""
    return code_cells(page).nth(index).locator(".jp-OutputArea")


def interrupt_kernel(page: Page) -> None:
    """Interrupt the kernel with the notebook toolbar's stop button (■)."""
    button = page.locator(f"{NOTEBOOK} .jp-Toolbar-item[data-jp-item-name='interrupt'] button")
    if button.count():
        button.first.click()
    else:  # A toolbar customised away; the command does the same.
        execute_command(page, "notebook:interrupt-kernel", wait=False)


def screenshot(page: Page, name: str, *, locator: Locator | None = None) -> Path:
    """Save a PNG of the page (or of ``locator``) as ``tests/browser/artifacts/NAME.png``."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "screenshot"
    path = ARTIFACTS_DIR / f"{safe}.png"
    if locator is not None:
        locator.screenshot(path=str(path))
    else:
        page.screenshot(path=str(path))
    return path


# -- ipywidgets sliders ----------------------------------------------------


def slider(page: Page, description: str, *, within: Locator | None = None) -> Locator:
    """The ipywidgets slider (``.widget-slider``) whose label reads ``description``."""
    scope = within if within is not None else page.locator(NOTEBOOK)
    return scope.locator(
        ".widget-slider",
        has=page.locator(
            ".widget-label", has_text=re.compile(rf"^\s*{re.escape(description)}\s*$")
        ),
    ).first


def slider_value(page: Page, description: str, *, within: Locator | None = None) -> str:
    """The slider's readout as shown (``"0.7"``, ``"42"``)."""
    return slider(page, description, within=within).locator(".widget-readout").inner_text().strip()


def set_slider(
    page: Page, description: str, value: float | str, *, within: Locator | None = None
) -> None:
    """Set a slider the way a person types a value: edit its readout, press Enter.

    ipywidgets 8 readouts are contenteditable; the widget validates, clamps to
    its range and step, and syncs the new value to the kernel.
    """
    readout = slider(page, description, within=within).locator(".widget-readout")
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(str(value))
    page.keyboard.press("Enter")


def nudge_slider(
    page: Page, description: str, steps: int, *, within: Locator | None = None
) -> None:
    """Move a slider by ``steps`` steps with the arrow keys on its handle (negative: left)."""
    handle = slider(page, description, within=within).locator(".noUi-handle").first
    handle.focus()
    key = "ArrowRight" if steps > 0 else "ArrowLeft"
    for _ in range(abs(steps)):
        handle.press(key)


# Records every distinct state of the cell's live view (and whether the final view is
# there) in window.__dsmFrames, from before the cell runs until the test reads them.
WATCH_JS = r"""(cell) => {
    const frames = [];
    const text = (root, sel) => {
        const e = root.querySelector(sel);
        return e ? e.textContent : null;
    };
    const snap = () => {
        const live = cell.querySelector('.jp-OutputArea .dsm-live');
        const state = {
            status: live ? text(live, '.dsm-status') : null,
            reasoning: live ? text(live, '.dsm-reasoning-tail') : null,
            answer: live ? text(live, '.dsm-answer-body') : null,
            final: cell.querySelector('.jp-OutputArea details.dsm-reasoning') !== null,
            // Outputs a person sees (the live view's stylesheet is an output of no height).
            outputs: [...cell.querySelectorAll('.jp-OutputArea-child')]
                .filter((c) => c.getBoundingClientRect().height > 0).length,
            styles: cell.querySelectorAll('.jp-OutputArea style').length,
        };
        const last = frames[frames.length - 1];
        if (!last || JSON.stringify(last) !== JSON.stringify(state)) frames.push(state);
    };
    new MutationObserver(snap).observe(cell, {subtree: true, childList: true, characterData: true});
    window.__dsmFrames = frames;
}"""


def watch_live_view(page: Page, cell: int) -> None:
    """Start recording cell ``cell``'s live-view frames (call before running it)."""
    code_cells(page).nth(cell).evaluate(WATCH_JS)


def recorded_frames(page: Page) -> list[dict[str, Any]]:
    frames: list[dict[str, Any]] = page.evaluate("() => window.__dsmFrames")
    return frames
