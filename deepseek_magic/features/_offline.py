"""Offline mode: the bundled emulator, started in the background and used by the session.

Offline mode is an explicit, visible switch and nothing else turns it on:

* ``%deepseek_offline [on]`` (options below), ``%deepseek_offline off``,
  ``%deepseek_offline status``;
* ``DEEPSEEK_MAGIC_OFFLINE=1`` in the environment, read by :func:`offline_from_env` when the
  extension loads (a value starting with ``-`` is read as the magic's options, e.g.
  ``DEEPSEEK_MAGIC_OFFLINE="--token-rate 40"``).

A missing API key never switches it on; the missing-key error only suggests it.

While it is on, :func:`deepseek_magic.engine._api.prepare` sends requests without an explicit base
URL or provider to the emulator and marks them offline, so every output says it comes
from the emulator, not from DeepSeek R1. The emulator runs on 127.0.0.1 in this process
(threads, no subprocess); :func:`stop_offline` joins its threads and an ``atexit`` hook
stops whatever is still running when the interpreter exits.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ..core._argline import Arg, LineError, arg, parse_line_of
from ..core._session import Session

if (
    TYPE_CHECKING
):  # the emulator (http.server & co.) loads when offline mode is used, not at %load_ext
    from ..emulator import Emulator
    from ..emulator._inkernel import InKernelEmulator

__all__ = [
    "ENV_OFFLINE",
    "ENV_PACE",
    "R1_PACE",
    "offline_from_env",
    "offline_magic",
    "offline_status",
    "parse_offline_args",
    "start_offline",
    "stop_offline",
]

#: the environment variable that turns offline mode on (``1``, ``true``, ``yes``, ``on``)
ENV_OFFLINE = "DEEPSEEK_MAGIC_OFFLINE"
#: ``fast`` makes the magic's emulator answer at once when no pace is given (the test
#: configuration sets it, so nbval and the suite stay fast); otherwise it streams at R1's pace
ENV_PACE = "DEEPSEEK_MAGIC_OFFLINE_PACE"
#: the magic's pace when none is given: R1 behind OpenRouter starts after a short wait,
#: then writes about 40 tokens a second, so a lesson's live view is really seen
R1_PACE: dict[str, float] = {"token_delay": 1.0 / 40, "first_token_latency": 0.8}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})

# Emulators started here and not yet stopped, for the atexit hook.
_running: set[Emulator | InKernelEmulator] = set()
_running_lock = threading.Lock()
_atexit_registered = False


def arguments() -> tuple[Arg, ...]:
    """The arguments of ``%deepseek_offline`` (also read from DEEPSEEK_MAGIC_OFFLINE), declared
    once: the magic's ``magic_arguments`` and :func:`parse_offline_args` both use them."""
    return (
        arg(
            "action",
            nargs="?",
            default="on",
            choices=["on", "off", "status", "auto"],
            metavar="on|off|status|auto",
            help="on (default), off, status, or auto: on only when no API key is set.",
        ),
        arg("--dialect", help="Which server's wire format the emulator speaks."),
        arg(
            "--token-rate",
            metavar="TOKENS_PER_SECOND",
            help="Streaming speed (default: R1's pace, 40; 0 = no delay).",
        ),
        arg("--latency", metavar="SECONDS", help="Wait before the first token (default: 0.8)."),
        arg(
            "--script",
            metavar="FILE",
            help="Replies chosen by the request: a JSON (or YAML) script, "
            "or a %%deepseek_cache recording.",
        ),
    )


DESCRIPTION = (
    "Answer from the bundled offline emulator (no key, no network; every output says "
    "it is the emulator, not DeepSeek R1); `auto` turns it on only when no API key is set."
)


def _number(flag: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise LineError(f"%deepseek_offline: {flag} {text}: expected a number.") from None


def parse_offline_args(line: str) -> tuple[str, dict[str, Any]]:
    """``"on --token-rate 40"`` -> ``("on", {"token_delay": 0.025})``: the action and the
    :class:`~deepseek_magic.emulator.Emulator` keywords. Raises
    :class:`~deepseek_magic.core._argline.LineError` (one line)."""
    from ..emulator import DIALECTS

    args = parse_line_of("deepseek_offline", DESCRIPTION, arguments(), line)
    kwargs: dict[str, Any] = {}
    if args.dialect is not None:
        if args.dialect not in DIALECTS:
            raise LineError(
                f"%deepseek_offline: --dialect {args.dialect}: choose one of {', '.join(DIALECTS)}."
            )
        kwargs["dialect"] = args.dialect
    if args.token_rate is not None:
        rate = _number("--token-rate", args.token_rate)
        if not rate >= 0:  # also refuses NaN
            raise LineError(
                f"--token-rate {args.token_rate}: expected tokens per second >= 0 (0 = no delay)."
            )
        kwargs["token_delay"] = 1.0 / rate if rate else 0.0
    if args.latency is not None:
        latency = _number("--latency", args.latency)
        if not 0 <= latency <= 3600:
            raise LineError(f"--latency {args.latency}: expected seconds between 0 and 3600.")
        kwargs["first_token_latency"] = latency
    if args.script is not None:
        from ..emulator import load_script

        try:
            kwargs["replies"] = load_script(os.path.expanduser(args.script))
        except (OSError, ValueError, TypeError, KeyError, ImportError) as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            raise LineError(f"--script {args.script}: cannot use it: {reason}") from None
    if args.action not in ("on", "auto") and kwargs:
        raise LineError(f"%deepseek_offline {args.action} takes no options; they go with 'on'.")
    return args.action, kwargs


# ----------------------------------------------------------------- the switch
def start_offline(session: Session, **emulator_kwargs: Any) -> Emulator | InKernelEmulator:
    """Start the emulator on 127.0.0.1 in the background and point ``session`` at it.

    ``emulator_kwargs`` go to :class:`~deepseek_magic.emulator.Emulator` (``replies``,
    ``dialect``, ``token_delay``, ``first_token_latency`` ...). A running one is replaced,
    so new options take effect. In a browser kernel (pyodide), or with ``in_kernel=True``,
    the same replies are served inside the kernel instead (no socket there).
    """
    global _atexit_registered
    from ..emulator import Emulator

    stop_offline(session)
    if emulator_kwargs.pop("in_kernel", sys.platform == "emscripten"):
        # No sockets in a browser kernel (JupyterLite): the same replies, served in-kernel.
        from ..emulator._inkernel import InKernelEmulator

        emu: Emulator | InKernelEmulator = InKernelEmulator(**emulator_kwargs).start()
    else:
        emulator_kwargs.setdefault("host", "127.0.0.1")
        emu = Emulator(**emulator_kwargs).start()
    with _running_lock:
        _running.add(emu)
        if not _atexit_registered:
            atexit.register(_stop_all)
            _atexit_registered = True
    session.offline = emu
    return emu


def stop_offline(session: Session) -> bool:
    """Stop the session's emulator (joining its threads) and go back to the configured
    provider. Returns whether offline mode was on."""
    emu, session.offline = session.offline, None
    if emu is None:
        return False
    with _running_lock:
        _running.discard(emu)
    emu.stop()
    return True


def _stop_all() -> None:
    with _running_lock:
        emulators = list(_running)
        _running.clear()
    for emu in emulators:
        emu.stop(timeout=2.0)


def _on_line(emu: Emulator | InKernelEmulator) -> str:
    details = [f"{emu.dialect} format"]
    if emu.token_delay:
        details.append(f"{1.0 / emu.token_delay:g} tokens/s")
    if emu.first_token_latency:
        details.append(f"{emu.first_token_latency:g} s latency")
    where = "inside this kernel" if _is_in_kernel(emu) else f"at {emu.base_url}"
    return (
        f"Offline mode ON: answers come from the bundled emulator {where} "
        f"({', '.join(details)}), not from DeepSeek R1. %deepseek_offline off to go back."
    )


def _is_in_kernel(emu: object) -> bool:
    return type(emu).__name__ == "InKernelEmulator"


def offline_status(session: Session) -> str:
    """One line saying whether offline mode is on, and where answers come from."""
    emu = session.offline
    if emu is None:
        return (
            "Offline mode is OFF: requests go to the configured provider. "
            "%deepseek_offline turns on the bundled emulator (no key, no network)."
        )
    return _on_line(emu)


# ----------------------------------------------------------------- magic and environment
def offline_magic(session: Session, line: str, *, out: Callable[[str], None] = print) -> None:
    """``%deepseek_offline [on|off|status|auto] [--dialect D] [--token-rate N] [--latency S]
    [--script FILE]``.

    ``auto`` (for teaching notebooks) turns offline mode on only when no API key is set,
    and says which way it went: a student with a key gets DeepSeek R1, one without gets
    the emulator, and the output says so either way."""
    action, kwargs = parse_offline_args(line)
    # the user chose: the environment must not switch offline mode back on after
    # `%deepseek_offline off` (Session.env_applied)
    session.env_applied.add("offline")
    if action == "status":
        out(offline_status(session))
    elif action == "off":
        was_on = stop_offline(session)
        out(
            "Offline mode OFF: requests go to the configured provider again."
            if was_on
            else "Offline mode was already off."
        )
    elif action == "auto" and _has_key(session):
        out(
            "An API key is set: answers come from DeepSeek R1 (this costs credits). "
            "%deepseek_offline on would use the bundled emulator instead."
        )
    elif session.offline is not None and not kwargs:
        out(_on_line(session.offline))  # already on: say so again, keep the running emulator
    else:
        if os.environ.get(ENV_PACE, "").strip().lower() != "fast":
            for name, value in R1_PACE.items():
                kwargs.setdefault(name, value)
        try:
            emu = start_offline(session, **kwargs)
        except OSError as exc:
            raise LineError(
                f"%deepseek_offline: cannot start the emulator on 127.0.0.1: {exc}"
            ) from None
        out(_on_line(emu))


def _has_key(session: Session) -> bool:
    """Whether a request could be sent now with the session's settings (a key is found,
    or the base URL is a local server that needs none)."""
    from ..core._errors import ConfigError
    from ..core._settings import resolve_settings

    try:
        resolve_settings(config=session.config)
    except ConfigError:
        return False
    return True


def offline_from_env(
    session: Session, env: Mapping[str, str] | None = None, *, out: Callable[[str], None] = print
) -> bool:
    """Apply ``DEEPSEEK_MAGIC_OFFLINE`` once per session; True when offline mode is on after it.

    ``1``/``true``/``yes``/``on`` starts the emulator with its defaults; a value starting with
    ``-`` is read as the magic's options (``"--token-rate 40 --script replies.json"``).
    Switching on prints the same visible line as the magic. Once the variable has been
    applied, or the user has used ``%deepseek_offline``, later calls change nothing, so
    ``%deepseek_offline off`` sticks. An unreadable value prints a warning and leaves
    offline mode off: it is never turned on by guesswork.
    """
    env = os.environ if env is None else env
    if "offline" in session.env_applied:
        return session.offline is not None
    session.env_applied.add("offline")
    raw = env.get(ENV_OFFLINE, "")
    value = raw.strip()
    if value.lower() in _FALSE:
        return session.offline is not None
    if value.lower() in _TRUE:
        line = "on"
    elif value.startswith("-"):
        line = "on " + value
    else:
        out(
            f"Warning: {ENV_OFFLINE}={raw!r} is not understood (use 1 to turn offline mode on); "
            "offline mode stays off."
        )
        return session.offline is not None
    try:
        offline_magic(session, line, out=out)
    except LineError as exc:
        out(f"Warning: {ENV_OFFLINE}: {exc} Offline mode stays off.")
    return session.offline is not None
