"""``python -m deepseek_magic.demo``: open JupyterLab on the quick-start notebook.

With an API key in the environment (``OPENROUTER_API_KEY``, ``DEEPSEEK_API_KEY`` or
``DEEPSEEK_MAGIC_API_KEY``) the notebook talks to DeepSeek R1. Without one the lesson's
first cell (``%deepseek_offline auto``) switches to the bundled emulator; this command
says so here, and every output says so in the notebook.

It prints the notebook's own address (``/lab/tree/01-quick-start.ipynb?token=...``) once
JupyterLab answers: with no display (SSH, a container, WSL) that is the link to open, not
the Launcher. Ctrl-C or SIGTERM (``kill``, ``docker stop``) stops JupyterLab too.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType

from .core._providers import PROVIDERS

#: our own key variable, then each provider's (from the provider table)
KEY_VARIABLES = ("DEEPSEEK_MAGIC_API_KEY", *(p.key_env for p in PROVIDERS.values() if p.key_env))
NOTEBOOK = "01-quick-start.ipynb"


def find_notebooks(start: Path | None = None) -> Path:
    """The ``notebooks/`` folder of a checkout: beside the current directory or the package."""
    candidates = [Path.cwd() / "notebooks", Path(__file__).resolve().parent.parent / "notebooks"]
    if start is not None:
        candidates.insert(0, start)
    for folder in candidates:
        if (folder / NOTEBOOK).exists():
            return folder
    raise SystemExit(
        "Cannot find notebooks/" + NOTEBOOK + ": run this from the deepseek-magic checkout."
    )


def free_port(preferred: int) -> int:
    """``preferred`` when nothing listens there on 127.0.0.1, else a free port."""
    for port in (preferred, 0):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise SystemExit("Cannot find a free port on 127.0.0.1.")


def notebook_url(port: int, token: str) -> str:
    """The direct address of the quick-start notebook (not the Launcher)."""
    return f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK}?token={token}"


def wait_until_up(proc: subprocess.Popen[bytes], port: int, token: str, timeout: float) -> bool:
    """Poll JupyterLab's status until it answers (False: it ended or took too long)."""
    deadline = time.monotonic() + timeout
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.3)
    return False


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """End JupyterLab (SIGTERM, then kill after ``timeout``) and wait for it."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deepseek_magic.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8888, help="JupyterLab's port (default 8888)")
    parser.add_argument(
        "--no-browser", action="store_true", help="do not try to open a web browser"
    )
    parser.add_argument("--notebooks", type=Path, default=None, help="the notebooks folder")
    args = parser.parse_args(argv)

    folder = find_notebooks(args.notebooks)
    env = dict(os.environ)
    if any(env.get(name) for name in KEY_VARIABLES):
        print("API key found: the notebook will ask DeepSeek R1 (this costs credits).")
    else:
        # The lessons start with `%deepseek_offline auto`, which switches the emulator on
        # visibly when no key is set; nothing is switched on behind the notebook's back.
        print(
            f"No API key found ({', '.join(KEY_VARIABLES)}):\n"
            "the notebooks will run in OFFLINE mode. Answers come from the bundled emulator, not "
            "from\n"
            "DeepSeek R1, and every output says so. Set a key and run this again to use the real "
            "model."
        )
    port = free_port(args.port)
    token = secrets.token_hex(24)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        str(folder / NOTEBOOK),
        f"--ServerApp.root_dir={folder}",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",  # the address printed below must be the one it listens on
        f"--IdentityProvider.token={token}",
    ]
    headless = args.no_browser or not (env.get("DISPLAY") or sys.platform in ("darwin", "win32"))
    if headless:
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    print("Starting JupyterLab (Ctrl-C to stop)…", flush=True)
    proc = subprocess.Popen(command, env=env)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt  # handled below: JupyterLab is stopped, not left running

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        if wait_until_up(proc, port, token, timeout=120):
            where = "Open this address" if headless else "The browser opens; else open"
            print(
                f"\n{where} to start the lesson:\n\n    {notebook_url(port, token)}\n", flush=True
            )
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        stop(proc)


if __name__ == "__main__":
    sys.exit(main())
