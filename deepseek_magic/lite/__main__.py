"""``python -m deepseek_magic.lite build [DIR]`` / ``serve [DIR] [--port N]``."""

from __future__ import annotations

import argparse
import functools
import http.server
import sys
from pathlib import Path

from ._build import BuildError, build


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deepseek_magic.lite",
        description="Build or serve the lessons as a JupyterLite site.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="assemble the static site (PyPI and npm only)")
    b.add_argument(
        "dir", nargs="?", default="_site", help="output folder (replaced; default _site)"
    )
    b.add_argument("--notebooks", help="the lessons folder (default: the repository's notebooks/)")
    b.add_argument("--serve", action="store_true", help="serve it afterwards (see serve)")
    b.add_argument("--port", type=int, default=8800)
    s = sub.add_parser("serve", help="serve a built site on 127.0.0.1")
    s.add_argument("dir", nargs="?", default="_site")
    s.add_argument("--port", type=int, default=8800)
    args = parser.parse_args(argv)
    if args.command == "build":
        try:
            report = build(args.dir, notebooks=args.notebooks)
        except BuildError as exc:
            print(f"lite build: {exc}", file=sys.stderr)
            return 1
        print(report.summary())
        if not args.serve:
            print(
                f"Serve it: python -m deepseek_magic.lite serve {args.dir} "
                "(or copy it to any static web host)."
            )
            return 0
    return serve(Path(args.dir), args.port)


def serve(folder: Path, port: int) -> int:
    if not (folder / "index.html").exists():
        print(f"lite serve: {folder} has no site; build it first.", file=sys.stderr)
        return 1
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(
            f"Serving the lessons at http://127.0.0.1:{port}/lab/index.html?path=01-quick-start.ipynb"
            " (Ctrl-C stops)."
        )
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
