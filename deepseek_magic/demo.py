"""``python -m deepseek_magic.demo``: open JupyterLab on the quick-start notebook.

With an API key in the environment (``OPENROUTER_API_KEY``, ``DEEPSEEK_API_KEY`` or
``DEEPSEEK_MAGIC_API_KEY``) the notebook talks to DeepSeek R1. Without one the lesson's
first cell (``%deepseek_offline auto``) switches to the bundled emulator; this command
says so here, and every output says so in the notebook.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from ._providers import PROVIDERS

#: our own key variable, then each provider's (from the provider table)
KEY_VARIABLES = ("DEEPSEEK_MAGIC_API_KEY", *(p.key_env for p in PROVIDERS.values() if p.key_env))
NOTEBOOK = "01-quick-start.ipynb"


def find_notebooks(start: Path | None = None) -> Path:
    """The ``notebooks/`` folder of a checkout: beside the current directory or the package."""
    candidates = [Path.cwd() / "notebooks", Path(__file__).resolve().parent.parent / "notebooks"]
    if start is not None:
        candidates.insert(0, start)
    for folder in candidates:
        if (folder / NOTEBOOK).exists():
            return folder
    raise SystemExit(
        "Cannot find notebooks/" + NOTEBOOK + ": run this from the deepseek-magic checkout."
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deepseek_magic.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--port", type=int, default=8888, help="JupyterLab's port (default 8888)")
    parser.add_argument(
        "--no-browser", action="store_true", help="do not try to open a web browser"
    )
    parser.add_argument("--notebooks", type=Path, default=None, help="the notebooks folder")
    args = parser.parse_args(argv)

    folder = find_notebooks(args.notebooks)
    env = dict(os.environ)
    if any(env.get(name) for name in KEY_VARIABLES):
        print("API key found: the notebook will ask DeepSeek R1 (this costs credits).")
    else:
        # The lessons start with `%deepseek_offline auto`, which switches the emulator on
        # visibly when no key is set; nothing is switched on behind the notebook's back.
        print(
            f"No API key found ({', '.join(KEY_VARIABLES)}):\n"
            "the notebooks will run in OFFLINE mode. Answers come from the bundled emulator, not "
            "from\n"
            "DeepSeek R1, and every output says so. Set a key and run this again to use the real "
            "model."
        )
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        str(folder / NOTEBOOK),
        f"--ServerApp.root_dir={folder}",
        "--ip=127.0.0.1",
        f"--port={args.port}",
    ]
    if args.no_browser or not (env.get("DISPLAY") or sys.platform in ("darwin", "win32")):
        command.append("--no-browser")
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    print("Starting JupyterLab; open the address it prints below (Ctrl-C to stop).", flush=True)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
