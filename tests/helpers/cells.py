"""Driving the magic through a real InteractiveShell, capturing what the frontend gets."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output


@dataclass
class CellRun:
    success: bool
    error: BaseException | None
    outputs: list[Any] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

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


def run_cell(shell: InteractiveShell, source: str) -> CellRun:
    with capture_output() as cap:
        result = shell.run_cell(source, store_history=True)
    error = result.error_in_exec or result.error_before_exec
    return CellRun(result.success, error, list(cap.outputs), cap.stdout, cap.stderr)
