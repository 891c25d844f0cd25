"""5. Memory: the peak while streaming the longest reply, against the reply's size.

``tracemalloc`` traces this (client) process; the figure is the traced peak during the
call minus what was traced before it, divided by the reply's size (bytes of reasoning +
answer text). Measured for ``ask()`` and for ``%%deepseek``; for the magic the peak is
split at the final render (``_render.render_result`` is wrapped to read the traced
memory as it starts): both parts have the goal (the render parses the answer a few
blocks at a time, ``_markdown.render_markdown``: markdown-it's tree of the whole answer
was ~35x the reply). A warm-up
call first, so lazily imported modules are not counted. ``retained`` is what is still
traced after the call (the Result's two texts, the last output).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

from ._common import PROMPT, Figure, magic_shell, run_magic
from ._corpus import make_reply, reply_size
from ._emu import served

__all__ = ["GOAL_MULTIPLE", "run"]

#: "a small multiple of the reply's size"
GOAL_MULTIPLE = 10.0


def _peak(fn: Callable[[], Any]) -> tuple[int, int]:
    """(peak - before, after - before) in bytes, traced by tracemalloc around ``fn()``."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        keep = fn()
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
        del keep
    finally:
        tracemalloc.stop()
    return peak - before, after - before


class _RenderSplit:
    """Wraps ``render_result`` to note the traced peak before it and its own peak."""

    def __init__(self) -> None:
        import deepseek_magic.view._render as render

        self.module, self.original = render, render.render_result
        self.before_peak = self.before = self.render_peak = 0

    def __enter__(self) -> _RenderSplit:  # noqa: PYI034 (never subclassed)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            self.before, self.before_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            out = self.original(*args, **kwargs)
            self.render_peak = tracemalloc.get_traced_memory()[1]
            return out

        self.module.render_result = wrapped
        return self

    def __exit__(self, *exc: object) -> None:
        self.module.render_result = self.original


def run(tokens: int) -> tuple[list[Figure], dict[str, Any]]:
    import deepseek_magic
    from deepseek_magic.core._session import Session

    reply = make_reply(tokens)
    size = reply_size(reply)
    session = Session()
    shell, publisher = magic_shell()
    with served([make_reply(200), make_reply(200), reply, reply]) as url:
        deepseek_magic.ask(PROMPT, base_url=url, session=session)  # warm-ups
        run_magic(shell, url)
        ask_peak, ask_kept = _peak(
            lambda: deepseek_magic.ask(PROMPT, base_url=url, session=Session())
        )
        publisher.reset()
        with _RenderSplit() as split:
            gc.collect()
            tracemalloc.start()
            try:
                start = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
                run_magic(shell, url)
                gc.collect()
                magic_kept = tracemalloc.get_traced_memory()[0] - start
            finally:
                tracemalloc.stop()
        stream_peak = split.before_peak - start
        render_peak = split.render_peak - start
    base = f"reply {size:,} B"
    figures = [
        Figure(
            "memory.reply_bytes",
            f"reply size, {tokens:,} tokens (reasoning + answer, UTF-8)",
            size,
            "B",
        ),
        Figure(
            "memory.ask_peak_ratio",
            "ask(): traced peak / reply size",
            ask_peak / size,
            "x",
            base,
            f"<= {GOAL_MULTIPLE:g}x",
            GOAL_MULTIPLE,
            note=f"peak {ask_peak / 1e6:.2f} MB",
        ),
        Figure(
            "memory.magic_stream_peak_ratio",
            "%%deepseek while streaming: traced peak / reply size",
            stream_peak / size,
            "x",
            base,
            f"<= {GOAL_MULTIPLE:g}x",
            GOAL_MULTIPLE,
            note=f"peak {stream_peak / 1e6:.2f} MB",
        ),
        Figure(
            "memory.magic_render_peak_ratio",
            "%%deepseek final render: traced peak / reply size",
            render_peak / size,
            "x",
            base,
            f"<= {GOAL_MULTIPLE:g}x",
            GOAL_MULTIPLE,
            note=f"peak {render_peak / 1e6:.2f} MB, freed after the render",
        ),
    ]
    raw = {
        "tokens": tokens,
        "reply_bytes": size,
        "ask_peak": ask_peak,
        "ask_retained": ask_kept,
        "magic_stream_peak": stream_peak,
        "magic_render_peak": render_peak,
        "magic_retained": magic_kept,
    }
    return figures, raw
