"""nbval for the lessons (a pytest plugin: ``-p tests.helpers.nbval_lessons`` in the
pytest configuration, so the learners' ``notebooks/`` folder holds only lessons, data and
replies): compare what a reader sees, not the first frame of a live view.

It also sets ``DEEPSEEK_MAGIC_OFFLINE_PACE=fast`` (unless the environment says otherwise),
before any kernel starts: the lessons stream at R1's pace for a reader, and at once under
nbval and in the test suite.

``%%deepseek`` shows ONE output and updates it in place while R1 streams: a
``display_data`` message with a ``display_id``, then ``update_display_data`` messages
for the same id, the last one being the finished result. JupyterLab, VS Code and
nbclient (which executed and stored these notebooks) apply the updates, so the stored
output is the finished result. nbval 0.11 drops update messages ("unhandled iopub msg:
update_display_data") and would compare the stored result with the first, empty
"waiting…" frame: every ``%%deepseek`` cell would fail, or would have to be excluded
from comparison, which would test nothing.

So for every notebook nbval collects, its reader of kernel messages
is wrapped: from a display that carries a ``display_id`` until the cell is idle (or
fails), messages are held back, each update is folded into the display it targets,
and the messages are then handed to nbval in their original order. (The live view's
stylesheet, a display of its own above the frames, is emptied after the final frame:
folded the same way, it is the empty output the stored lesson has too.) Everything else
nbval does (running the cells, sanitizing, comparing) is unchanged.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable
from queue import Empty
from typing import Any

import pytest

try:
    from nbval.plugin import IPyNbFile
except ImportError:  # nbval not installed: nothing to adjust (its own error explains)
    IPyNbFile = None

#: the offline emulator's pace switch (``deepseek_magic.features._offline.ENV_PACE``)
os.environ.setdefault("DEEPSEEK_MAGIC_OFFLINE_PACE", "fast")

Message = dict[str, Any]


class DisplayUpdates:
    """Wraps ``IPyNbFile.get_kernel_message``; applies ``update_display_data`` the way a
    notebook frontend does, within the cell that made the display."""

    def __init__(self, get: Callable[..., Message]) -> None:
        self._get = get
        self._held: list[Message] = []  # messages after a display with an id, in order
        self._targets: dict[str, Message] = {}  # display_id -> the held display message
        self._ready: deque[Message] = deque()
        self._cell: str | None = None  # msg_id of the execution the held display belongs to

    def __call__(self, timeout: float | None = None, stream: str = "iopub") -> Message:
        if stream != "iopub":
            return self._get(timeout=timeout, stream=stream)
        while not self._ready:
            try:
                msg = self._get(timeout=timeout, stream=stream)
            except Empty:
                if not self._held:
                    raise
                self._release()  # nbval's own timeout handling sees everything, then Empty
                break
            self._take(msg)
        return self._ready.popleft()

    def _take(self, msg: Message) -> None:
        kind, content = msg["msg_type"], msg.get("content", {})
        display_id = (content.get("transient") or {}).get("display_id")
        if kind == "update_display_data" and display_id in self._targets:
            target = self._targets[display_id]["content"]
            target["data"], target["metadata"] = (
                content.get("data", {}),
                content.get("metadata", {}),
            )
            return
        if kind == "display_data" and display_id:
            if not self._held:
                self._cell = msg.get("parent_header", {}).get("msg_id")
            self._targets[display_id] = msg
            self._held.append(msg)
            return
        if not self._held:
            self._ready.append(msg)
            return
        self._held.append(msg)
        # The cell that made the display is over (idle) or failed (nbval reads on past an
        # error by itself). Messages answering other requests are only kept in order.
        own = msg.get("parent_header", {}).get("msg_id") == self._cell
        if own and (
            kind == "error" or (kind == "status" and content.get("execution_state") == "idle")
        ):
            self._release()

    def _release(self) -> None:
        self._ready.extend(self._held)
        self._held = []
        self._targets.clear()


def pytest_collectstart(collector: pytest.Collector) -> None:
    if IPyNbFile is not None and isinstance(collector, IPyNbFile):
        collector.get_kernel_message = DisplayUpdates(collector.get_kernel_message)
