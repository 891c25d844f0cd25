"""``python -m deepseek_magic.emulator``: run the offline emulator from a shell."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Sequence

from ._match import rules_from_recording
from ._script import DIALECTS, load_script
from ._server import Emulator

DESCRIPTION = """\
Run the deepseek-magic offline emulator: an OpenAI-compatible chat-completions
server on your machine that answers like DeepSeek R1 behind OpenRouter (or
DeepSeek's API, vLLM, Ollama, llama.cpp) without any model or API key.
Every default reply says it comes from the emulator, not from DeepSeek R1.

It serves POST /v1/chat/completions (also /api/v1/...), GET /v1/models and
GET /health, prints one line with its base URL, and runs until Ctrl-C or SIGTERM.
"""

EPILOG = """\
example:
  python -m deepseek_magic.emulator --port 8765 --token-rate 40 --keepalive 1
  # in another shell or a notebook:
  DEEPSEEK_MAGIC_BASE_URL=http://127.0.0.1:8765/v1 jupyter lab

script files are JSON (or YAML with PyYAML) lists of rules, each answering the
requests it matches (first match wins; see notebooks/README.md):
  [{"prompt": "Is 9.11 larger than 9.9?", "reasoning": "Compare tenths.",
    "answer": "9.9 is larger."},
   {"prompt_contains": "robots", "when": {"temperature": ">= 1"},
    "samples": [{"answer": "The Gear Grind"}, {"answer": "Circuit Grounds"}]}]
or a %deepseek_cache record file (JSON lines). --script-from-recording FILE prints
such a recording as a script to edit:
  python -m deepseek_magic.emulator --script-from-recording deepseek-cache.jsonl > replies.json
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deepseek_magic.emulator",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, loopback only)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="port to listen on (default: 0 = pick a free one; see the printed URL)",
    )
    parser.add_argument(
        "--dialect",
        choices=DIALECTS,
        default="openrouter",
        help="which server's wire format to speak (default: openrouter)",
    )
    parser.add_argument(
        "--script",
        metavar="FILE",
        help="scripted replies chosen by the request (rules), or a %%deepseek_cache recording; "
        "an unmatched request gets the labelled default reply",
    )
    parser.add_argument(
        "--script-from-recording",
        metavar="FILE",
        help="print the %%deepseek_cache recording FILE as a script (JSON) and exit",
    )
    parser.add_argument(
        "--token-rate",
        type=float,
        default=0.0,
        metavar="TOKENS_PER_SECOND",
        help="streaming speed (default: 0 = as fast as possible)",
    )
    parser.add_argument(
        "--tokens-per-chunk",
        type=int,
        default=1,
        metavar="N",
        help="tokens in each streamed chunk (default: 1)",
    )
    parser.add_argument(
        "--first-token-latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait before the first token (default: 0)",
    )
    parser.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        metavar="N",
        help="serve at most N chat requests at once; more get an immediate 429 (default: no limit)",
    )
    parser.add_argument(
        "--busy-retry-after",
        type=float,
        default=None,
        metavar="SECONDS",
        help="the Retry-After header sent with those 429s (default: none, as DeepSeek's API)",
    )
    parser.add_argument(
        "--keepalive",
        type=float,
        default=None,
        metavar="SECONDS",
        help="send SSE comment keep-alives this often while waiting (default: none)",
    )
    parser.add_argument(
        "--cors",
        action="store_true",
        help="answer web pages on any origin as OpenRouter does (CORS), e.g. a JupyterLite site",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.script_from_recording:
        try:
            with open(args.script_from_recording, encoding="utf-8") as recording:
                entries = rules_from_recording(recording)
        except OSError as exc:
            print(f"error: cannot read {args.script_from_recording}: {exc}", file=sys.stderr)
            return 2
        about = f"Recorded with %deepseek_cache record ({args.script_from_recording})."
        print(json.dumps({"about": about, "replies": entries}, indent=1, ensure_ascii=False))
        return 0
    if args.token_rate < 0 or args.first_token_latency < 0 or args.tokens_per_chunk < 1:
        print(
            "error: rates and latencies must be >= 0 and --tokens-per-chunk >= 1", file=sys.stderr
        )
        return 2
    try:
        replies = load_script(args.script) if args.script else None
    except (OSError, ValueError, ImportError) as exc:
        print(f"error: cannot read --script {args.script}: {exc}", file=sys.stderr)
        return 2
    emulator = Emulator(
        replies=replies,
        dialect=args.dialect,
        host=args.host,
        port=args.port,
        token_delay=1.0 / args.token_rate if args.token_rate else 0.0,
        first_token_latency=args.first_token_latency,
        keepalive_interval=args.keepalive,
        tokens_per_chunk=args.tokens_per_chunk,
        cors=args.cors,
        max_concurrent=args.max_concurrent,
        busy_retry_after=args.busy_retry_after,
    )
    done = threading.Event()
    # SIGTERM (docker stop, kill) should end as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        emulator.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"deepseek-magic offline emulator listening on {emulator.base_url}", flush=True)
    try:
        while not done.wait(0.5):  # a short wait keeps Ctrl-C responsive on every platform
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
