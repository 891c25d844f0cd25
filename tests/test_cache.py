"""The record/replay cache: record against the emulator, replay with no server at all."""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path

import pytest

from deepseek_magic import CacheError, ConfigError, ask
from deepseek_magic.core._argline import LineError
from deepseek_magic.core._result import Result, Usage
from deepseek_magic.core._session import Session
from deepseek_magic.emulator import Emulator, Fault, Reply, ToolCallSpec
from deepseek_magic.engine._api import prepare
from deepseek_magic.features._cache import (
    ENV_CACHE,
    OFFLINE_BASE_URL,
    Cache,
    cache_from_env,
    cache_key,
    cache_magic,
    current_cache,
    disable_cache,
    enable_cache,
)
from deepseek_magic.view._render import render_result
from tests.helpers.cells import run_cell

CACHE_MARK = " · replayed from cache"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "notebook-cache.jsonl"


def _request(session: Session, prompt: str = "Hi", **kw):
    kw.setdefault("base_url", "http://127.0.0.1:9/v1")
    options = kw.pop("options", {})
    return prepare(prompt, session=session, options=options, **kw).request


def _lines(path: Path) -> list[dict]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def _warnings() -> tuple[list[str], object]:
    said: list[str] = []
    return said, said.append


# ----------------------------------------------------------------- the key
def test_key_covers_url_model_messages_options_but_not_stream_or_key(session, sentinel_key) -> None:
    base = cache_key(_request(session, "Hi", options={"temperature": 0.6}))
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert cache_key(_request(session, "Hi", options={"temperature": 0.6})) == base
    assert cache_key(_request(session, "Hi", options={"temperature": 0.6}, stream=False)) == base
    assert (
        cache_key(_request(session, "Hi", options={"temperature": 0.6}, api_key=sentinel_key))
        == base
    )
    different = [
        _request(session, "Hi", options={"temperature": 0.7}),
        _request(session, "Hi", options={"temperature": 0.6, "seed": 1}),
        _request(session, "Hello", options={"temperature": 0.6}),
        _request(session, "Hi", options={"temperature": 0.6}, system="Be brief."),
        _request(session, "Hi", options={"temperature": 0.6}, model="other-model"),
        _request(session, "Hi", options={"temperature": 0.6}, base_url="http://127.0.0.1:10/v1"),
    ]
    assert len({cache_key(r) for r in different} | {base}) == len(different) + 1


def test_offline_requests_are_keyed_without_the_emulator_port(session) -> None:
    from deepseek_magic.features._offline import start_offline, stop_offline

    try:
        start_offline(session)
        first = _request(session, "Hi", base_url=None)
        start_offline(session)  # a new emulator, a new port
        second = _request(session, "Hi", base_url=None)
    finally:
        stop_offline(session)
    assert first.settings.base_url != second.settings.base_url
    assert first.settings.offline and cache_key(first) == cache_key(second)
    from deepseek_magic.features._cache import request_record

    assert request_record(first)["base_url"] == OFFLINE_BASE_URL


# ------------------------------------------------------------- record, then replay with no server
def test_record_then_replay_with_no_server_is_identical(session, path) -> None:
    reply = Reply(
        reasoning="Compare tenths: 0.9 > 0.11.", answer="**9.9** is larger.\n\n- tenths\n- $x^2$"
    )
    with Emulator(replies=[reply], dialect="deepseek") as emu:
        enable_cache(session, path, "record")
        recorded = ask(
            "Which is larger, 9.9 or 9.11?",
            session=session,
            base_url=emu.base_url,
            model="deepseek-flash",
            temperature=0.6,
            seed=7,
        )
        base_url = emu.base_url
        assert len(emu.requests) == 1
    assert recorded.ok and not recorded.cached and recorded.usage.completion_tokens

    (entry,) = _lines(path)
    assert set(entry) >= {"key", "created", "request", "result"}
    assert entry["request"]["options"] == {"temperature": 0.6, "seed": 7}
    assert entry["request"]["messages"] == [
        {"role": "user", "content": "Which is larger, 9.9 or 9.11?"}
    ]

    # A fresh session (another kernel), the server gone: replay only.
    student = Session()
    enable_cache(student, path, "replay")
    replayed = ask(
        "Which is larger, 9.9 or 9.11?",
        session=student,
        base_url=base_url,
        model="deepseek-flash",
        temperature=0.6,
        seed=7,
    )
    assert replayed.cached and replayed.replace(cached=False) == recorded
    for name in (
        "answer",
        "reasoning",
        "usage",
        "cost",
        "cost_source",
        "finish_reason",
        "model",
        "elapsed",
    ):
        assert getattr(replayed, name) == getattr(recorded, name)
    assert student.history.last is replayed

    bundle_r, meta_r = render_result(recorded)
    bundle, meta = render_result(replayed)
    assert (
        "replayed from cache" in bundle["text/html"]
        and "replayed from cache" in bundle["text/plain"]
    )
    for mime in ("text/html", "text/markdown", "text/plain"):
        assert bundle[mime].replace(CACHE_MARK, "") == bundle_r[mime]
    assert meta["deepseek_magic"]["cached"] is True and meta_r["deepseek_magic"]["cached"] is False
    assert {k: v for k, v in meta["deepseek_magic"].items() if k != "cached"} == {
        k: v for k, v in meta_r["deepseek_magic"].items() if k != "cached"
    }


def test_magic_record_then_replay_with_no_server(shell, session, path) -> None:
    with Emulator(replies=[Reply(reasoning="Think.", answer="# Done\n\nFour.")]) as emu:
        rec = run_cell(shell, f"%deepseek_cache record {path}")
        assert (
            rec.success and rec.stdout.startswith("Cache RECORD:") and "never written" in rec.stdout
        )
        first = run_cell(
            shell, f"%%deepseek --base-url {emu.base_url} --temperature 0.2 -o a\nWhat is 2+2?"
        )
        assert first.success, first.error
        base_url = emu.base_url
    rep = run_cell(shell, f"%deepseek_cache replay {path}")
    assert rep.success and rep.stdout.startswith("Cache REPLAY:") and "1 reply" in rep.stdout
    second = run_cell(
        shell, f"%%deepseek --base-url {base_url} --temperature 0.2 -o b\nWhat is 2+2?"
    )
    assert second.success, second.error
    assert shell.user_ns["b"].cached and shell.user_ns["b"].answer == "# Done\n\nFour."
    # identical but for the cache mark and the session's running spend in the footer
    replayed = re.sub(r" · session [^<]*", "", second.final["text/html"].replace(CACHE_MARK, ""))
    assert replayed == first.final["text/html"]
    assert "replayed from cache" in second.final["text/html"]
    assert second.final_metadata["deepseek_magic"]["cached"] is True
    status = run_cell(shell, "%deepseek_cache status")
    assert status.stdout.strip() == f"Cache REPLAY: {path} 1 reply."


def test_replay_miss_raises_and_sends_nothing(session, path, emu) -> None:
    enable_cache(session, path, "record")
    ask("Recorded question", session=session, base_url=emu.base_url)
    enable_cache(session, path, "replay")
    with pytest.raises(CacheError) as info:
        ask("A question nobody recorded", session=session, base_url=emu.base_url)
    assert str(info.value) == (
        f"No cached reply for this request in {path} (mode replay); "
        f"record it first with %deepseek_cache record {path}"
    )
    assert emu.wait_idle(5) and len(emu.request_log) == 1
    # a changed option is another request too
    with pytest.raises(CacheError):
        ask("Recorded question", session=session, base_url=emu.base_url, temperature=1.0)
    assert len(emu.request_log) == 1


def test_magic_replay_miss_fails_the_cell_in_one_line(shell, path, emu) -> None:
    run_cell(shell, f"%deepseek_cache replay {path}")
    run = run_cell(shell, f"%%deepseek --base-url {emu.base_url}\nNot recorded")
    assert type(run.error).__name__ == "CacheError" and "record it first" in str(run.error)
    assert emu.request_log == []


def test_replay_or_call_calls_once_then_replays(session, path, emu) -> None:
    emu.queue(Reply(answer="first and only"))
    enable_cache(session, path)  # replay-or-call is the default
    one = ask("Q", session=session, base_url=emu.base_url)
    two = ask("Q", session=session, base_url=emu.base_url)
    assert len(emu.requests) == 1 and not one.cached and two.cached
    assert two.answer == one.answer == "first and only"
    assert len(_lines(path)) == 1


def test_record_always_calls_and_the_last_line_wins(session, path, emu) -> None:
    emu.queue(Reply(answer="old answer"), Reply(answer="new answer"))
    enable_cache(session, path, "record")
    ask("Q", session=session, base_url=emu.base_url)
    latest = ask("Q", session=session, base_url=emu.base_url)
    assert len(emu.requests) == 2 and not latest.cached
    assert [e["result"]["answer"] for e in _lines(path)] == ["old answer", "new answer"]
    cache = enable_cache(Session(), path, "replay")
    assert cache.entries == 1 and cache.lines == 2
    student = Session()
    enable_cache(student, path, "replay")
    assert ask("Q", session=student, base_url=emu.base_url, stream=False).answer == "new answer"
    assert len(emu.requests) == 2


def test_failed_and_interrupted_replies_are_not_stored(session, path, emu) -> None:
    emu.queue(Fault("midstream_error", after_tokens=3))
    enable_cache(session, path, "record")
    from deepseek_magic import StreamError

    with pytest.raises(StreamError):
        ask("Q", session=session, base_url=emu.base_url)
    assert not path.exists() or _lines(path) == []


def test_off_and_disable_remove_the_hooks(session, path, emu) -> None:
    enable_cache(session, path, "replay")
    assert current_cache(session) is not None and len(session.features) == 1
    disable_cache(session)
    assert session.features == [] and current_cache(session) is None
    assert ask("Q", session=session, base_url=emu.base_url).ok  # sent normally
    enable_cache(session, path, "record")
    enable_cache(session, path, "off")
    # only the cache's hooks are gone (ask() installed the spend guard, which stays)
    assert current_cache(session) is None
    assert [type(f).__name__ for f in session.features] == ["_Tracker"]


def test_tool_rounds_replay_and_tools_run_again(session, path) -> None:
    calls: list[str] = []

    def get_weather(city: str) -> str:
        """Weather for a city."""
        calls.append(city)
        return f"Sunny in {city}"

    replies = [
        Reply(tool_calls=[ToolCallSpec("get_weather", {"city": "Oslo"}, id="call_1")]),
        Reply(answer="It is sunny in Oslo."),
    ]
    with Emulator(replies=replies) as emu:
        enable_cache(session, path, "record")
        first = ask(
            "Weather in Oslo?",
            session=session,
            base_url=emu.base_url,
            tools=[get_weather],
            run_tools=True,
        )
        base_url = emu.base_url
    student = Session()
    enable_cache(student, path, "replay")
    again = ask(
        "Weather in Oslo?", session=student, base_url=base_url, tools=[get_weather], run_tools=True
    )
    assert again.answer == first.answer == "It is sunny in Oslo." and again.cached
    assert again.rounds[0].tool_calls[0].output == "Sunny in Oslo" and calls == ["Oslo", "Oslo"]


# ----------------------------------------------------------------- no key needed, and never written
def test_students_replay_without_a_key(session, path, sentinel_key) -> None:
    # The teacher's entry for the default provider (OpenRouter), recorded with a key.
    teacher = prepare("Explain R1.", session=Session(), api_key=sentinel_key, options={}).request
    assert teacher.settings.base_url == "https://openrouter.ai/api/v1"
    Cache(path, "record").store(
        teacher,
        Result(
            answer="R1 reasons first.",
            finish_reason="stop",
            usage=Usage(prompt_tokens=3, completion_tokens=5),
        ),
    )
    assert sentinel_key not in path.read_text(encoding="utf-8")

    # No key anywhere: without the cache this is the missing-key error...
    with pytest.raises(ConfigError):
        ask("Explain R1.", session=session)
    # ...with it, the reply is replayed (no network: openrouter.ai is never contacted).
    enable_cache(session, path, "replay")
    assert ask("Explain R1.", session=session).answer == "R1 reasons first."
    # replay-or-call: a miss would need a key, and says so before sending anything.
    enable_cache(session, path, "replay-or-call")
    with pytest.raises(ConfigError) as info:
        ask("Something else", session=session)
    assert "No cached reply" in str(info.value) and "DEEPSEEK_MAGIC_API_KEY" in str(info.value)


def test_the_key_is_never_written(session, path, emu, sentinel_key) -> None:
    enable_cache(session, path, "record")
    result = ask(
        f"my key is {sentinel_key}, keep it secret",
        session=session,
        base_url=emu.base_url,
        api_key=sentinel_key,
    )
    assert emu.request_log[-1].authorization == f"Bearer {sentinel_key}"  # it was really in play
    assert sentinel_key in result.messages[0]["content"]
    text = path.read_bytes()
    assert sentinel_key.encode() not in text and b"SENTINEL" not in text
    assert len(_lines(path)) == 1


# ----------------------------------------------------------------- damaged files
def _record_three(session: Session, path: Path, emu: Emulator) -> None:
    enable_cache(session, path, "record")
    for q in ("one", "two", "three"):
        ask(q, session=session, base_url=emu.base_url)
    disable_cache(session)


def test_truncated_last_line_is_named_and_the_rest_still_replays(session, path, emu) -> None:
    _record_three(session, path, emu)
    data = path.read_bytes()
    cut = data[: len(data) - len(data.splitlines()[-1]) // 2 - 1]  # a crash halfway through line 3
    path.write_bytes(cut)

    with pytest.raises(CacheError) as info:
        Cache(path, "replay").load(strict=True)
    message = str(info.value)
    assert (
        str(path) in message and "line 3" in message and "the other 2 entries are intact" in message
    )
    assert "delete or fix that line" in message and "\n" not in message
    with pytest.raises(CacheError, match="line 3"):
        enable_cache(Session(), path, "replay", strict=True)

    said, warn = _warnings()
    student = Session()
    cache = enable_cache(student, path, "replay", warn=warn)
    assert cache.entries == 2 and [p.line for p in cache.problems] == [3]
    assert len(said) == 1 and "line 3" in said[0] and "cut short" in said[0]
    count = len(emu.request_log)
    assert ask("one", session=student, base_url=emu.base_url).cached
    assert ask("two", session=student, base_url=emu.base_url).cached
    with pytest.raises(CacheError, match="damaged line 3"):
        ask("three", session=student, base_url=emu.base_url)
    assert len(emu.request_log) == count
    assert path.read_bytes() == cut  # reading never touches the file
    assert len(said) == 1  # each damaged line is reported once


def test_recording_after_a_crash_appends_on_a_fresh_line(session, path, emu) -> None:
    _record_three(session, path, emu)
    data = path.read_bytes()
    cut = data[:-40]
    path.write_bytes(cut)
    said, warn = _warnings()
    enable_cache(session, path, "replay-or-call", warn=warn)
    assert len(said) == 1 and "line 3" in said[0]
    ask("three", session=session, base_url=emu.base_url)  # the damaged one: called again, stored
    after = path.read_bytes()
    assert after.startswith(cut)  # nothing rewritten or truncated
    assert after[len(cut) : len(cut) + 1] == b"\n"
    replay = Cache(path, "replay", warn=lambda m: None)
    assert replay.entries == 3 and [p.line for p in replay.problems] == [3]


def test_garbage_middle_line(session, path, emu) -> None:
    _record_three(session, path, emu)
    lines = path.read_bytes().split(b"\n")
    lines.insert(1, b"<<<<<<< merge conflict")
    lines.insert(3, b"[1, 2, 3]")
    path.write_bytes(b"\n".join(lines))
    said, warn = _warnings()
    cache = Cache(path, "replay", warn=warn)
    assert cache.entries == 3
    assert [(p.line, p.reason.split(" (")[0]) for p in cache.problems] == [
        (2, "is not valid JSON"),
        (4, "is not a cache entry"),
    ]
    assert (
        "line 2 is not valid JSON; the other 3 entries are intact — delete or fix that line"
        in said[0]
    )
    with pytest.raises(CacheError, match=r"line 2 is not valid JSON.*\(1 more damaged lines\)"):
        cache.load(strict=True)


def test_a_write_failure_warns_and_keeps_the_reply(session, path, emu) -> None:
    said, warn = _warnings()
    enable_cache(session, path, "record", warn=warn)
    path.mkdir()  # the file's name is now taken by a folder
    result = ask("Q", session=session, base_url=emu.base_url)
    assert result.ok and session.history.last is result
    assert (
        len(said) == 1
        and "Could not save the reply" in said[0]
        and "kept in the session" in said[0]
    )


def test_changes_by_another_kernel_are_seen(session, path, emu) -> None:
    student = Session()
    enable_cache(student, path, "replay")
    with pytest.raises(CacheError):
        ask("Q", session=student, base_url=emu.base_url)
    enable_cache(session, path, "record")  # another kernel records meanwhile
    ask("Q", session=session, base_url=emu.base_url)
    assert ask("Q", session=student, base_url=emu.base_url).cached


# ----------------------------------------------------------------- concurrency
def test_concurrent_appends_never_interleave(session, path) -> None:
    cache = Cache(path, "record")
    request = _request(session, "Q")
    big = "x" * 200_000  # far beyond one pipe/page write, so an unlocked writer would interleave
    results = [Result(answer=f"{i}:{big}", finish_reason="stop") for i in range(40)]

    def write(part: list[Result]) -> None:
        for r in part:
            cache.store(request, r)

    threads = [threading.Thread(target=write, args=(results[i::2],)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    entries = _lines(path)
    assert len(entries) == 40
    assert sorted(e["result"]["answer"].split(":")[0] for e in entries) == sorted(
        str(i) for i in range(40)
    )
    assert Cache(path, "replay").problems == []


# ----------------------------------------------------------------- the magic and the environment
def test_magic_usage_and_status(shell, session, path, tmp_path, monkeypatch) -> None:
    assert run_cell(shell, "%deepseek_cache").stdout.startswith("Cache OFF")
    for bad in (
        "%deepseek_cache sometimes",
        "%deepseek_cache replay a.jsonl b.jsonl",
        "%deepseek_cache off x",
    ):
        run = run_cell(shell, bad)
        assert type(run.error).__name__ == "UsageError" and "\n" not in str(run.error)
    monkeypatch.chdir(tmp_path)
    run = run_cell(shell, "%deepseek_cache replay-or-call")
    assert run.success and "deepseek-cache.jsonl" in run.stdout and "(a new file)" in run.stdout
    assert current_cache(session).path == tmp_path / "deepseek-cache.jsonl"
    switched = run_cell(shell, "%deepseek_cache replay")  # keeps the file, changes the mode
    assert current_cache(session).mode == "replay" and "does not exist yet" in switched.stdout
    off = run_cell(shell, "%deepseek_cache off")
    assert off.stdout.startswith("Cache OFF") and current_cache(session) is None
    assert run_cell(shell, "%deepseek_cache off").stdout.startswith("The cache was already off")
    missing = run_cell(shell, f"%deepseek_cache record {tmp_path}/no/such/folder/c.jsonl")
    assert type(missing.error).__name__ == "CacheError" and "does not exist" in str(missing.error)


def test_magic_returns_through_cache_magic_api(session, path) -> None:
    out: list[str] = []
    cache = cache_magic(session, f"record {path}", out=out.append)
    assert cache is current_cache(session) and cache.mode == "record" and len(out) == 1
    with pytest.raises(LineError, match="%deepseek_cache: .*check the quotes"):
        cache_magic(session, "replay 'unclosed", out=out.append)


def test_env_enables_replay_once(session, path, emu) -> None:
    enable_cache(Session(), path, "record")
    said: list[str] = []
    cache = cache_from_env(session, env={ENV_CACHE: f"replay:{path}"}, out=said.append)
    assert cache is current_cache(session) and cache.mode == "replay" and cache.path == path
    assert len(said) == 1 and said[0].startswith("Cache REPLAY:")
    disable_cache(session)
    assert (
        cache_from_env(session, env={ENV_CACHE: f"replay:{path}"}, out=said.append) is None
    )  # once only
    assert len(said) == 1


def test_env_bad_mode_and_default_path(tmp_path, monkeypatch) -> None:
    said: list[str] = []
    s = Session()
    assert cache_from_env(s, env={ENV_CACHE: "sometimes:x.jsonl"}, out=said.append) is None
    assert "unknown mode 'sometimes'" in said[-1] and s.features == []
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_CACHE, "record")
    t = Session()
    cache = cache_from_env(t, out=said.append)
    assert (
        cache is not None
        and cache.path == tmp_path / "deepseek-cache.jsonl"
        and cache.mode == "record"
    )
    assert cache_from_env(Session(), env={}, out=said.append) is None


def test_the_magic_wins_over_the_env(session, path) -> None:
    cache_magic(session, "off", out=lambda m: None)
    assert cache_from_env(session, env={ENV_CACHE: f"replay:{path}"}, out=lambda m: None) is None
    assert current_cache(session) is None


def test_async_ask_replays_too(session, path) -> None:
    import asyncio

    from deepseek_magic import aask

    with Emulator(replies=[Reply(reasoning="r", answer="async answer")]) as emu:
        enable_cache(session, path, "record")
        recorded = asyncio.run(aask("Q", session=session, base_url=emu.base_url))
        base_url = emu.base_url
    student = Session()
    enable_cache(student, path, "replay")
    replayed = asyncio.run(aask("Q", session=student, base_url=base_url))
    assert replayed.cached and replayed.replace(cached=False) == recorded
    with pytest.raises(CacheError):
        asyncio.run(aask("not recorded", session=student, base_url=base_url))


def test_offline_mode_recordings_replay_in_a_later_session(session, path) -> None:
    """CI with DEEPSEEK_MAGIC_OFFLINE=1 and a cache: the emulator's port changes every run,
    the recordings still replay, and every replay still says it came from the emulator."""
    from deepseek_magic.features._offline import start_offline, stop_offline

    quiet = lambda message: None  # noqa: E731
    later = Session()
    try:
        start_offline(session, replies=[Reply(answer="scripted once")])
        cache_magic(session, f"replay-or-call {path}", out=quiet)
        first = ask("Q", session=session)
        start_offline(later)  # would answer with its default reply, not "scripted once"
        cache_magic(later, f"replay {path}", out=quiet)
        again = ask("Q", session=later)
        assert later.offline.requests == []
    finally:
        stop_offline(session)
        stop_offline(later)
    assert first.offline and again.offline and again.cached and again.answer == "scripted once"
    bundle, _ = render_result(again)
    assert (
        "Offline emulator — not DeepSeek R1" in bundle["text/html"]
        and "replayed from cache" in bundle["text/html"]
    )


def test_env_with_an_unusable_file_keeps_failing_until_fixed(tmp_path) -> None:
    s = Session()
    env = {ENV_CACHE: f"replay:{tmp_path}/missing-folder/c.jsonl"}
    for _ in range(2):  # not just once: a later call must not quietly go without the cache
        with pytest.raises(CacheError, match="does not exist"):
            cache_from_env(s, env=env, out=lambda m: None)
    (tmp_path / "missing-folder").mkdir()
    assert cache_from_env(s, env=env, out=lambda m: None) is current_cache(s) is not None
