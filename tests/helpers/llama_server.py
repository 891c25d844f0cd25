"""Start and stop a real llama.cpp ``llama-server`` for the llama test tier.

The binary, the model and llama.cpp's DeepSeek-R1 chat template come from the cache
that ``python3 tests/helpers/llama_build.py`` fills (see that module). The server listens on
127.0.0.1 only, on a free port, and is stopped by its own PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import httpx

from tests.helpers.llama_build import BUILD_COMMAND, Paths, find

#: The one line a plain `pytest` shows when the tier cannot run here.
SKIP_REASON = (
    f"llama-server tier not built on this machine; enable it with `{BUILD_COMMAND}` "
    "(about 6 minutes on 2 cores, once per machine)"
)

#: Slots served at once (`--parallel`); the context below is shared among them.
PARALLEL = 4
CONTEXT = 4096
THREADS = 2
#: The model id the server reports (`--alias`; without it, the GGUF file's path).
MODEL_ALIAS = "SmolLM2-135M-Instruct"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class LlamaServer:
    """One running llama-server; ``base_url`` ends in ``/v1``."""

    def __init__(
        self,
        paths: Paths,
        log_path: Path,
        *,
        r1_template: bool = False,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.paths = paths
        self.log_path = log_path
        self.port = free_port()
        self.root_url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.root_url + "/v1"
        self.args = [
            str(paths.server),
            "--model",
            str(paths.model),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--ctx-size",
            str(CONTEXT),
            "--parallel",
            str(PARALLEL),
            "--threads",
            str(THREADS),
            "--threads-batch",
            str(THREADS),
            "--jinja",
            "--no-webui",
            "--alias",
            MODEL_ALIAS,
        ]
        if r1_template:
            self.args += [
                "--chat-template-file",
                str(paths.r1_template),
                "--reasoning-format",
                "deepseek",
            ]
        self.args += list(extra_args)
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self, timeout: float = 120.0) -> LlamaServer:
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                self.stop()  # (forgets the process: the exit code is kept above)
                raise RuntimeError(f"llama-server exited with {code}:\n" + self.log_tail())
            try:
                if httpx.get(self.root_url + "/health", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"llama-server not healthy after {timeout:.0f} s:\n" + self.log_tail())

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)  # by its own PID, never by name
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        if self._log is not None:
            self._log.close()
            self._log = None


__all__ = ["PARALLEL", "SKIP_REASON", "LlamaServer", "find", "free_port"]
