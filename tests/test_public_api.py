"""The public surface named in DESIGN.md's contract, kept honest."""

from __future__ import annotations

import inspect
import subprocess
import sys

import deepseek_magic as dm
from deepseek_magic import _errors
from tests.helpers.faults import STATUS_ERRORS


def test_all_names_exist_and_cover_the_contract() -> None:
    assert all(hasattr(dm, name) for name in dm.__all__)
    for name in (
        "ask",
        "aask",
        "panel",
        "history",
        "last",
        "sweep",
        "Result",
        "DeepSeekError",
        "load_ipython_extension",
        "unload_ipython_extension",
    ):
        assert name in dm.__all__
    assert inspect.iscoroutinefunction(dm.aask)


def test_every_error_class_is_exported_and_derives_from_the_base() -> None:
    classes = [
        obj
        for obj in vars(_errors).values()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == _errors.__name__
    ]
    assert len(classes) >= 18
    for cls in classes:
        assert issubclass(cls, dm.DeepSeekError)
        assert cls.__name__ in dm.__all__


def test_http_statuses_map_to_the_documented_subclasses() -> None:
    for status, cls in STATUS_ERRORS.items():
        assert _errors.status_error(status) is cls


def test_result_has_the_contract_fields() -> None:
    result = dm.Result()
    for name in (
        "answer",
        "reasoning",
        "tool_calls",
        "finish_reason",
        "usage",
        "cost",
        "model",
        "params",
        "elapsed",
    ):
        assert hasattr(result, name)
    for name in ("prompt_tokens", "completion_tokens", "reasoning_tokens"):
        assert hasattr(result.usage, name)


def test_import_is_light_and_touches_nothing() -> None:
    code = (
        "import sys, socket\n"
        "opened = []\n"
        "socket.socket.connect = lambda *a, **k: opened.append(a)\n"
        "import deepseek_magic\n"
        "heavy = [m for m in ('ipywidgets', 'pandas', 'matplotlib', 'markdown_it', 'httpx') if m "
        "in sys.modules]\n"
        "print(heavy, opened)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[] []"
