"""The lessons as a JupyterLite site: Python in the browser tab, nothing to install.

``python -m deepseek_magic.lite build [DIR]`` assembles a static folder from PyPI and npm
(see :mod:`deepseek_magic.lite._build`); ``python -m deepseek_magic.lite serve [DIR]``
serves it on 127.0.0.1. Any static host can publish the folder.
"""

from __future__ import annotations

from ._build import JUPYTERLITE_VERSION, PYODIDE_VERSION, BuildError, BuildReport, build, cache_dir

__all__ = [
    "JUPYTERLITE_VERSION",
    "PYODIDE_VERSION",
    "BuildError",
    "BuildReport",
    "build",
    "cache_dir",
]
