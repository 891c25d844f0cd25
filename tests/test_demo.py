"""``python -m deepseek_magic.demo`` with no display (SSH, a container, WSL): it prints the
quick-start notebook's own address, which opens that notebook, and a SIGTERM to the demo
stops JupyterLab too."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from deepseek_magic.demo import free_port, notebook_url

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def test_the_direct_address_is_the_notebooks_and_stays_on_loopback() -> None:
    url = notebook_url(8888, "abc")
    assert url == "http://127.0.0.1:8888/lab/tree/01-quick-start.ipynb?token=abc"
    assert free_port(0) > 0


def _listening(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=2):
            return True
    except OSError:
        return False


def test_headless_demo_prints_the_notebook_address_and_sigterm_stops_jupyterlab(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY" and "API_KEY" not in k}
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR"):
        env[name] = str(tmp_path / name.lower())
    port = free_port(0)
    demo = subprocess.Popen(
        [sys.executable, "-m", "deepseek_magic.demo", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert demo.stdout is not None
        url = None
        deadline = time.monotonic() + 120
        while url is None and time.monotonic() < deadline:
            line = demo.stdout.readline()
            if not line:
                break
            found = re.search(r"http://127\.0\.0\.1:\d+/\S+", line)
            url = found.group() if found else None
        assert url is not None, "the demo printed no address"
        assert f":{port}/lab/tree/01-quick-start.ipynb?token=" in url
        with urllib.request.urlopen(url, timeout=10) as page:  # the notebook's page, served
            assert page.status == 200 and "JupyterLab" in page.read().decode()
        demo.send_signal(signal.SIGTERM)
        assert demo.wait(timeout=30) == 0
        assert not _listening(port), "JupyterLab kept running after the demo got SIGTERM"
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
