"""Driving the magic through a real InteractiveShell, capturing what the frontend gets."""

from __future__ import annotations

import _thread
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output


@dataclass
class CellRun:
    success: bool
    error: BaseException | None
    #: what was displayed (display and update messages), the live view's stylesheet aside
    outputs: list[Any] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    #: the live view's stylesheet output (shown first, once)
    sheet: list[Any] = field(default_factory=list)

    @property
    def final(self) -> dict[str, Any]:
        return self.outputs[-1].data

    @property
    def final_metadata(self) -> dict[str, Any]:
        return self.outputs[-1].metadata or {}

    @property
    def frames(self) -> int:
        return len(self.outputs)

    @property
    def bytes_sent(self) -> int:
        return sum(len(json.dumps(o.data).encode()) for o in self.outputs)

    def all_text(self) -> str:
        parts = [self.stdout, self.stderr, repr(self.error), str(self.error)]
        for o in self.outputs:
            parts.append(json.dumps(o.data))
            parts.append(json.dumps(o.metadata or {}, default=str))
        return "\n".join(parts)


def _display_id(output: Any) -> str | None:
    return (getattr(output, "transient", None) or {}).get("display_id")


def run_cell(shell: InteractiveShell, source: str) -> CellRun:
    from deepseek_magic.notebook._live import SHEET

    with capture_output() as cap:
        result = shell.run_cell(source, store_history=True)
    error = result.error_in_exec or result.error_before_exec
    sheets = {_display_id(o) for o in cap.outputs if o.data == SHEET} - {None}
    outputs = [o for o in cap.outputs if _display_id(o) not in sheets]
    sheet = [o for o in cap.outputs if _display_id(o) in sheets]
    return CellRun(result.success, error, outputs, cap.stdout, cap.stderr, sheet)


def run_terminal_ipython(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``script`` typed into a terminal IPython (a fresh process, its own IPYTHONDIR under
    ``cwd``, no DEEPSEEK_/OPENROUTER_ variables from this environment)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEEPSEEK_", "OPENROUTER_"))}
    env["IPYTHONDIR"] = str(cwd / "ipython")
    return subprocess.run(
        [sys.executable, "-m", "IPython", "--simple-prompt", "--no-banner", "--colors=NoColor"],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=cwd,
        check=False,
    )


def interrupt_while_streaming(shell: InteractiveShell, emu: Any, source: str) -> CellRun:
    """Run the cell ``source`` and press the kernel's interrupt once ``emu`` has its
    request and has streamed for a moment (``_thread.interrupt_main``, what the kernel's
    interrupt does)."""

    def interrupt() -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not emu.requests:
            time.sleep(0.01)
        time.sleep(0.3)
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    return run_cell(shell, source)
