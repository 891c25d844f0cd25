"""The emulator in its own process, so the client's CPU time is measured alone.

``served(replies, token_rate=..., first_token_latency=...)`` writes the replies to a
script file, starts ``python -m deepseek_magic.emulator --port 0 --script FILE`` and
yields its base URL (read from the first line it prints); the process is ended by its
pid when the block exits. Each request consumes one scripted reply, in order.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict

from deepseek_magic.emulator import Reply

__all__ = ["served"]


def _script_item(reply: Reply) -> dict[str, object]:
    data = asdict(reply)
    return {k: v for k, v in data.items() if k in ("reasoning", "answer")}


@contextlib.contextmanager
def served(
    replies: Sequence[Reply],
    *,
    token_rate: float = 0.0,
    first_token_latency: float = 0.0,
    dialect: str = "openrouter",
    extra_args: Sequence[str] = (),
) -> Iterator[str]:
    """Run the emulator in a subprocess serving ``replies`` in order; yields its base URL."""
    with tempfile.TemporaryDirectory(prefix="dsm-bench-") as tmp:
        script = os.path.join(tmp, "script.json")
        with open(script, "w", encoding="utf-8") as f:
            json.dump([_script_item(r) for r in replies], f, ensure_ascii=False)
        cmd = [
            sys.executable,
            "-m",
            "deepseek_magic.emulator",
            "--port",
            "0",
            "--script",
            script,
            "--token-rate",
            str(token_rate),
            "--first-token-latency",
            str(first_token_latency),
            "--dialect",
            dialect,
            *extra_args,
        ]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if "http" not in line:
                err = proc.stderr.read() if proc.stderr else ""
                raise RuntimeError(f"the emulator did not start: {line!r} {err[-500:]}")
            yield line.split()[-1].rstrip("/")
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
