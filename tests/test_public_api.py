"""The public surface named in DESIGN.md's contract, kept honest."""

from __future__ import annotations

import inspect
import subprocess
import sys

import deepseek_magic as dm
from deepseek_magic.core import _errors
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
        for name, obj in vars(_errors).items()
        if inspect.isclass(obj) and issubclass(obj, BaseException) and not name.startswith("_")
    ]
    assert len(classes) >= 25
    for cls in classes:
        if issubclass(cls, Warning):
            assert cls is dm.DeprecatedOptionWarning
        else:
            assert issubclass(cls, dm.DeepSeekError)
        assert cls.__name__ in dm.__all__ and cls.__name__ in _errors.__doc__
    # the classes raised elsewhere in the package are the tree's own
    from deepseek_magic.core._argline import LineError
    from deepseek_magic.core._options import DeprecatedOptionWarning

    assert LineError is dm.LineError and DeprecatedOptionWarning is dm.DeprecatedOptionWarning


def test_all_is_the_public_namespace() -> None:
    """As httpx's test_exported_members: every public name is in ``__all__`` and every
    name there exists; ``map`` alone stays out (``import *`` must not shadow the builtin)
    but is in ``dir()`` so it tab-completes."""
    public = {
        name
        for name in dir(dm)
        if not name.startswith("_") and not inspect.ismodule(getattr(dm, name))
    }
    assert public - set(dm.__all__) == {"map"}
    assert set(dm.__all__) - public == {"__version__", "events"}
    assert inspect.ismodule(dm.events) and "map" in dir(dm) and "amap" in dir(dm)


def test_public_names_report_the_package_as_their_module() -> None:
    for name in dm.__all__:
        obj = getattr(dm, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "deepseek_magic", name
    assert dm.map.__module__ == dm.amap.__module__ == "deepseek_magic"


def test_status_errors_carry_status_code_and_status() -> None:
    error = dm.NotFoundError("HTTP 404", status=404)
    assert error.status_code == error.status == 404
    assert _errors.status_error(404) is dm.NotFoundError
    assert _errors.status_error(409) is dm.ConflictError
    assert _errors.status_error(422) is dm.UnprocessableEntityError
    assert _errors.status_error(503) is dm.InternalServerError is dm.ServerError


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
