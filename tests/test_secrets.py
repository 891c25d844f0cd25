"""The API key audit: it is sent in one header to the configured host, and nowhere else.

One long scenario runs everything a user can do with a sentinel key set (the magic, the
line magic, conversations, ``ask()``/``aask()``, failures whose bodies echo the key,
``%deepseek_key``, ``%deepseek_config``, ``%deepseek_history``, the record/replay cache
and the panel when they exist, DEBUG logging of ours and of httpx/httpcore), then
searches every output, metadata, saved notebook, log record, repr, exception, cache
file, ``Result.to_dict()`` and the history for the key, or for a distinctive piece of it.

Then: a redirect never carries the key to another host (nothing follows redirects),
a provider's own key variable is sent only to that provider's host, and TLS
certificates are verified unless the user turns that off explicitly.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import deepseek_magic as dm
from deepseek_magic.client._http import AsyncClient, Client
from deepseek_magic.core._session import Session
from deepseek_magic.emulator import Emulator, Fault, Reply
from deepseek_magic.notebook._magic import DeepSeekMagics
from tests.helpers.cells import CellRun, run_cell


class Records(logging.Handler):
    """Keeps every log record, formatted the way any handler would see it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(
            self.format(record) + " " + repr(record.args) + " " + repr(record.__dict__)
        )


@pytest.fixture
def debug_logs() -> Iterator[Records]:
    handler = Records()
    loggers = [logging.getLogger(name) for name in ("deepseek_magic", "httpx", "httpcore")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.addHandler(handler)
    yield handler
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(handler)
        lg.setLevel(level)


class Audit:
    """Everything a user (or a log, or a file) could see, by where it came from."""

    def __init__(self) -> None:
        self.places: dict[str, str] = {}

    def add(self, where: str, *objects: Any) -> None:
        parts = []
        for obj in objects:
            parts.append(obj if isinstance(obj, str) else repr(obj))
            if isinstance(obj, (dict, list, tuple)):
                parts.append(json.dumps(obj, default=repr, ensure_ascii=False))
        self.places[where] = self.places.get(where, "") + "\n".join(parts)

    def add_result(self, where: str, result: dm.Result | None) -> None:
        if result is None:
            return
        bundle, metadata = result._repr_mimebundle_()
        self.add(
            where,
            repr(result),
            str(result),
            result.to_dict(),
            bundle,
            metadata,
            result._repr_markdown_(),
        )

    def add_error(self, where: str, exc: BaseException) -> None:
        self.add(
            where,
            str(exc),
            repr(exc),
            exc.args,
            getattr(exc, "_render_traceback_", list)(),
            getattr(exc, "body", None),
            getattr(exc, "metadata", None),
            getattr(exc, "code", None),
        )
        self.add_result(f"{where}.partial", getattr(exc, "partial", None))

    def add_run(self, where: str, run: CellRun) -> None:
        self.add(where, run.all_text())
        if run.error is not None:
            self.add_error(f"{where}.error", run.error)

    def leaks(self, key: str) -> list[str]:
        # the whole key, or a distinctive middle part of it (a key cut short still leaks)
        pieces = [key, key[9:25], key[-20:]]
        return [where for where, text in self.places.items() if any(p in text for p in pieces)]

    def show(self, key: str) -> str:
        """Each leak with the text around it (the assertion message)."""
        out = []
        for where in self.leaks(key):
            text = self.places[where]
            at = max(text.find(p) for p in (key, key[9:25], key[-20:]))
            out.append(f"{where}: ...{text[max(0, at - 300) : at + 80]!r}...")
        return "\n".join(out)


def notebook_text(tmp_path: Path, cells: list[tuple[str, CellRun]]) -> str:
    """The runs saved as a real .ipynb (what the user shares) and read back as text."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    nb = new_notebook()
    for source, run in cells:
        outputs = [
            new_output("display_data", data=o.data, metadata=o.metadata or {}) for o in run.outputs
        ]
        if run.stdout:
            outputs.append(new_output("stream", name="stdout", text=run.stdout))
        if run.stderr:
            outputs.append(new_output("stream", name="stderr", text=run.stderr))
        error = run.error
        if error is not None:
            tb = (
                error._render_traceback_() if hasattr(error, "_render_traceback_") else [str(error)]
            )
            outputs.append(
                new_output("error", ename=type(error).__name__, evalue=str(error), traceback=tb)
            )
        nb.cells.append(new_code_cell(source, outputs=outputs))
    path = tmp_path / "shared.ipynb"
    nbformat.write(nb, str(path))
    nbformat.validate(nbformat.read(str(path), as_version=4))
    return path.read_text(encoding="utf-8")


def test_the_key_appears_nowhere(
    shell,
    session: Session,
    sentinel_key: str,
    debug_logs: Records,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    key = sentinel_key
    audit = Audit()
    cells: list[tuple[str, CellRun]] = []
    monkeypatch.chdir(tmp_path)  # anything written by default goes here, and is searched

    def cell(where: str, source: str) -> CellRun:
        run = run_cell(shell, source)
        cells.append((source, run))
        audit.add_run(where, run)
        return run

    with Emulator(replies=[]) as emu:
        url = emu.base_url

        # ---- the key entered privately with %deepseek_key (a password prompt)
        monkeypatch.setattr("getpass.getpass", lambda prompt="": key)
        assert cell("%deepseek_key", "%deepseek_key").success

        # ---- the magic: success, line magic, conversation, dry run, config, history
        emu.queue(
            Reply(reasoning="Compare tenths.", answer="9.9 is larger."),
            Reply(answer="4"),
            Reply(reasoning="t1", answer="chat one"),
            Reply(reasoning="t2", answer="two"),
        )
        assert cell(
            "magic", f"%%deepseek --base-url {url} -o r\nWhich is larger, 9.11 or 9.9?"
        ).success
        assert cell("line magic", f"%deepseek --base-url {url} What is 2 + 2?").success
        assert cell("chat 1", f"%%deepseek --base-url {url} --chat c1\nFirst").success
        assert cell("chat 2", f"%%deepseek --base-url {url} --chat c1\nSecond").success
        assert cell("dry run", f"%%deepseek --base-url {url} --dry-run\nHi").success
        assert cell("config", f"%config DeepSeekMagics.base_url = '{url}'").success
        config = cell("%deepseek_config", "%deepseek_config")
        assert config.success and "api_key" in config.stdout
        assert cell("%deepseek_history", "%deepseek_history").success
        assert cell("%deepseek_chat", "%deepseek_chat show c1").success

        # ---- failures whose bodies and streams echo the key back
        emu.queue(
            Fault(
                "status",
                status=401,
                body={
                    "error": {
                        "code": 401,
                        "message": f"Invalid key {key}",
                        "metadata": {"key": key},
                    }
                },
            ),
            Fault(
                "status",
                status=403,
                body=f"<html><p>key={key}</p></html>",
                content_type="text/html",
            ),
            # (a Location echoing the key is in the redirect test below: httpcore's own
            # DEBUG trace prints response headers as the server sent them)
            Fault("status", status=307, body="", headers={"Location": "http://127.0.0.2:1/v1"}),
            Fault("midstream_error", after_tokens=2, message=f"upstream refused {key}", code=key),
            Fault("malformed", after_tokens=1),
        )
        for n in range(5):
            run = cell(f"failure {n}", f"%%deepseek --base-url {url} -o failed{n}\nHi")
            assert not run.success and isinstance(run.error, dm.DeepSeekError)

        # ---- ask() and aask(), a success and an echoed 401
        emu.queue(
            Reply(answer="from ask"),
            Fault("status", status=401, body=f"bad key {key}", content_type="text/plain"),
            Reply(answer="from aask"),
        )
        audit.add_result("ask", dm.ask("q", session=session))
        with pytest.raises(dm.AuthenticationError) as info:
            dm.ask("q", session=session, max_retries=0)
        audit.add_error("ask 401", info.value)
        audit.add_result("aask", asyncio.run(dm.aask("q", session=session)))

        # ---- the record/replay cache, when it exists
        try:
            from deepseek_magic.features import _cache
        except ImportError:
            _cache = None  # another engineer's module; this part is skipped without it
        if _cache is not None:
            path = tmp_path / "cache.jsonl"
            _cache.enable_cache(session, path, "record")
            emu.queue(Reply(reasoning="cached reasoning", answer="cached answer"))
            audit.add_result(
                "cache record", dm.ask(f"cache me (the key is {key[:4]}...)", session=session)
            )
            cache = _cache.enable_cache(session, path, "replay")
            replayed = dm.ask(f"cache me (the key is {key[:4]}...)", session=session)
            assert replayed.cached and replayed.answer == "cached answer"
            audit.add_result("cache replay", replayed)
            audit.add("cache", repr(cache), cache.describe(), path.read_text(encoding="utf-8"))
            _cache.disable_cache(session)

        # ---- the panel, when it exists
        try:
            from deepseek_magic.notebook import _panel
        except ImportError:
            _panel = None
        if _panel is not None:
            emu.queue(
                Reply(reasoning="panel thinking", answer="panel answer"),
                Fault(
                    "status",
                    status=401,
                    body={"error": {"code": 401, "message": f"no such key {key}"}},
                ),
            )
            p = _panel.panel("From the panel", session=session, shell=None)
            for n in range(2):
                p.send_button.click()
                assert p.wait(20)
                audit.add(f"panel {n}", repr(p), p.status.value, p.cell(), list(p.output.outputs))
                audit.add_result(f"panel {n} result", p.last_result)
                if n == 0:
                    assert p.last_result is not None and p.last_result.answer == "panel answer"
                else:
                    assert isinstance(p.last_error, dm.AuthenticationError)
                    audit.add_error(f"panel {n} error", p.last_error)
            p.close()

        # ---- positive control: the key really was in play, in the one header meant for it
        sent = [r.authorization for r in emu.request_log]
        assert sent and set(sent) == {f"Bearer {key}"}
        audit.add("emulator's view of the headers", [r.headers for r in emu.request_log])
        assert emu.wait_idle(5)

    # ---- everything kept: history, conversations, namespace, settings, saved notebook, logs, files
    for i, result in enumerate(session.history):
        audit.add_result(f"history[{i}]", result)
    audit.add("history records", session.history.to_records(), repr(session.history))
    audit.add("history frame", session.history.to_dataframe().to_string())
    audit.add(
        "conversations",
        repr(session.conversations),
        {name: c.messages for name, c in session.conversations.items()},
    )
    audit.add(
        "namespace",
        {
            k: repr(v)
            for k, v in shell.user_ns.items()
            if k in ("r", "_deepseek") or k.startswith("failed")
        },
    )
    audit.add(
        "settings",
        repr(dm.resolve_settings(config=session.config)),
        dm.resolve_settings(config=session.config).describe(),
    )
    audit.add("input history", list(shell.history_manager.input_hist_raw))
    audit.add("saved notebook", notebook_text(tmp_path, cells))
    audit.add("debug logs", "\n".join(debug_logs.texts))
    for path in tmp_path.rglob("*"):
        if path.is_file():
            audit.add(f"file {path.name}", path.read_text(encoding="utf-8", errors="replace"))

    assert len(debug_logs.texts) > 20, "the DEBUG logs were not captured"
    assert any("masked" in t or "…" in t for t in audit.places.values())  # the masked form is shown
    assert audit.leaks(key) == [], audit.show(key)
    print(f"\nkey audit: {len(audit.places)} places searched, {len(sent)} requests carried the key")


def test_the_key_masking_reaches_what_it_must(sentinel_key: str) -> None:
    """The audit's own check would see a leak: a positive control."""
    audit = Audit()
    audit.add("clean", "nothing here", {"a": 1})
    audit.add("cut", "code " + sentinel_key[:40])
    assert audit.leaks(sentinel_key) == ["cut"]


# ====================================================================== where the key goes
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("alias", ["127.0.0.2", "localhost"])
def test_a_redirect_never_carries_the_key_anywhere(
    session: Session, sentinel_key: str, status: int, alias: str
) -> None:
    host = "127.0.0.2" if alias == "127.0.0.2" else "127.0.0.1"
    with Emulator(host=host) as other, Emulator(replies=[]) as emu:
        location = f"http://{alias}:{other.port}/v1/chat/completions"
        emu.queue(Fault.redirect(location, status=status))
        client = Client()
        with pytest.raises(dm.APIStatusError) as info:
            dm.ask("q", base_url=emu.base_url, api_key=sentinel_key, session=session, client=client)
        client.close()
        assert info.value.status == status and sentinel_key not in str(info.value)
        assert (
            len(emu.request_log) == 1
            and emu.request_log[0].authorization == f"Bearer {sentinel_key}"
        )
        assert other.wait_idle(1)
        assert other.request_log == []  # nothing followed the redirect, with or without the key


def test_a_redirect_without_a_body_names_the_target_but_not_the_key(
    session: Session, sentinel_key: str
) -> None:
    with Emulator(replies=[]) as emu:
        emu.queue(
            Fault(
                "status",
                status=307,
                body="",
                headers={"Location": f"https://e.example/v1?k={sentinel_key}"},
            )
        )
        with pytest.raises(dm.APIStatusError, match="redirected to https://e.example") as info:
            dm.ask(
                "q", base_url=emu.base_url, api_key=sentinel_key, session=session, client=Client()
            )
    assert sentinel_key not in str(info.value) and "***" in str(info.value)


def test_the_http_clients_never_follow_redirects() -> None:
    assert Client().http.follow_redirects is False
    assert AsyncClient().http.follow_redirects is False


@pytest.mark.parametrize("variable", ["OPENROUTER_API_KEY", "DEEPSEEK_API_KEY"])
@pytest.mark.parametrize("provider", [None, "openrouter", "deepseek"])
def test_a_providers_own_key_goes_only_to_its_host(
    session: Session,
    sentinel_key: str,
    variable: str,
    provider: str | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(variable, sentinel_key)
    with Emulator(replies=[Reply(answer="ok")]) as emu:
        # the emulator speaks for openrouter.ai / api.deepseek.com here, at another address
        result = dm.ask("q", base_url=emu.base_url, provider=provider, session=session)
    assert result.answer == "ok"
    assert emu.request_log[0].authorization is None


def test_the_explicit_key_goes_to_the_configured_host(
    session: Session, sentinel_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEEPSEEK_MAGIC_API_KEY", sentinel_key)
    with Emulator(replies=[Reply(answer="ok")]) as emu:
        dm.ask("q", base_url=emu.base_url, session=session)
    assert emu.request_log[0].authorization == f"Bearer {sentinel_key}"
    assert (
        emu.request_log[0].headers["authorization"] == "Bearer ***"
    )  # even the emulator's log masks it


# ====================================================================== TLS stays verified
def _verify_mode(client: Client | AsyncClient) -> tuple[ssl.VerifyMode, bool]:
    """How the client verifies TLS (its public ``tls`` seam: the context it gives httpx)."""
    context = client.tls
    assert isinstance(context, ssl.SSLContext)
    return context.verify_mode, context.check_hostname


def test_tls_is_verified_by_default(session: Session) -> None:
    assert _verify_mode(Client()) == (ssl.CERT_REQUIRED, True)
    assert _verify_mode(AsyncClient()) == (ssl.CERT_REQUIRED, True)
    assert _verify_mode(session.client()) == (ssl.CERT_REQUIRED, True)
    assert session.verify_tls is True


@pytest.mark.parametrize("value", [0, "", None, "false", "no"])
def test_only_an_explicit_false_turns_tls_verification_off(value: Any) -> None:
    session = Session()
    session.config["verify_tls"] = value
    assert _verify_mode(session.client()) == (ssl.CERT_REQUIRED, True)
    session.client().close()


def test_tls_setting_from_ipython_config_is_honoured() -> None:
    """``c.DeepSeekMagics.verify_tls = False`` in ipython_config.py (values arrive while the
    magics are built: this once crashed %load_ext with an AttributeError)."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    for value, mode in ((False, ssl.CERT_NONE), (True, ssl.CERT_REQUIRED)):
        session = Session()
        config = Config(
            {"DeepSeekMagics": {"verify_tls": value, "base_url": "http://127.0.0.1:9/v1"}}
        )
        DeepSeekMagics(shell=InteractiveShell.instance(), session=session, config=config)
        assert session.config["verify_tls"] is value
        assert _verify_mode(session.client())[0] == mode
        session.client().close()


def test_turning_tls_verification_off_is_explicit_and_works(shell, session: Session) -> None:
    assert run_cell(shell, "%config DeepSeekMagics.verify_tls = False").success
    assert session.config["verify_tls"] is False
    assert _verify_mode(session.client()) == (ssl.CERT_NONE, False)
    # the traitlet refuses anything that is not a boolean: a typo changes nothing
    run_cell(shell, "%config DeepSeekMagics.verify_tls = 'on'")
    assert session.config["verify_tls"] is False
    run_cell(shell, "%config DeepSeekMagics.verify_tls = True")
