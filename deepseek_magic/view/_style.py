"""The one style sheet: every colour and border the views use (inline CSS, since a
notebook output carries no style sheet of its own). JupyterLab's theme variables come
first; the fallbacks read on light and dark backgrounds. Also the one label every view
shares: :data:`OFFLINE_NOTE`, and the class MathJax skips (:data:`IGNORE_MATH_CLASS`)."""

from __future__ import annotations

__all__ = [
    "IGNORE_MATH_CLASS",
    "OFFLINE_NOTE",
    "ERROR",
    "ERROR_PLAIN",
    "WARN",
    "BORDER",
    "BORDER_SOFT",
    "BORDER_FIELD",
    "BORDER_ACCENT",
]

#: Classes MathJax 3 (``mathjax_ignore``) and MathJax 2 (``tex2jax_ignore``) skip.
IGNORE_MATH_CLASS = "tex2jax_ignore mathjax_ignore"
#: an error where no theme variable can go (a failed run's tqdm bar)
ERROR_PLAIN = "#d32f2f"
#: an error (the panel's status, the sweep's error cells, a warning in a Result)
ERROR = f"var(--jp-error-color1,{ERROR_PLAIN})"
#: stopped / needs attention, not failed
WARN = "var(--jp-warn-color1,#b26a00)"
#: table cells (a sweep, a batch)
BORDER = "var(--jp-border-color2,rgba(128,128,128,0.35))"
#: the panel's compare columns
BORDER_SOFT = "var(--jp-border-color2,#ddd)"
#: an input field drawn as one box (the tools picker)
BORDER_FIELD = "var(--jp-border-color1, #bdbdbd)"
#: the rule beside reasoning and tool calls
BORDER_ACCENT = "var(--jp-border-color1,rgba(128,128,128,0.45))"

OFFLINE_NOTE = "Offline emulator — not DeepSeek R1"
