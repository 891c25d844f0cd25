"""Typed answers (``schema=``): normalisation, extraction, validation, the method per
provider (proved by the emulator's request log), repair rounds, cut JSON, ``map()``'s
typed columns, the magic's ``--schema`` and the display."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

import pytest

import deepseek_magic as dm
from deepseek_magic.client._catalogue import Catalogue, ModelInfo
from deepseek_magic.core._errors import OptionError
from deepseek_magic.emulator import Emulator, Reply
from deepseek_magic.emulator._schema_shapes import SchemaResponder, shape_by_hash, wild_reply
from deepseek_magic.features._schema import parse_spec, to_schema
from deepseek_magic.features._schema_check import extract, validate
from deepseek_magic.features._schema_view import data_status
from deepseek_magic.view._render import format_footer, render_result

pd = pytest.importorskip("pandas")


@dataclass
class City:
    city: str
    population: int
    tags: list[str]


class CityDict(TypedDict):
    city: str
    population: int


PARIS = {"city": "Paris", "population": 2100000, "tags": ["capital"]}


def ask(emu: Emulator, session: Any, **kw: Any) -> dm.Result:
    kw.setdefault("base_url", emu.base_url)
    return dm.ask("Tell me about Paris", session=session, **kw)


# ----------------------------------------------------------------- normalisation
def test_every_kind_of_schema_gives_the_same_fields() -> None:
    spec = to_schema("city: str, population: int, tags: list[str]")
    dc = to_schema(City)
    js = to_schema({"type": "object", "properties": {"city": {"type": "string"}}})
    td = to_schema(CityDict)
    assert (
        [f.name for f in spec.fields]
        == [f.name for f in dc.fields]
        == ["city", "population", "tags"]
    )
    assert [f.name for f in td.fields] == ["city", "population"]
    assert [f.name for f in js.fields] == ["city"]
    assert spec.json["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}
    assert dc.build(PARIS) == City("Paris", 2100000, ["capital"])
    many = to_schema(list[City])
    assert many.many and many.build([PARIS]) == [City("Paris", 2100000, ["capital"])]
    assert many.wire["properties"]["items"]["type"] == "array"  # servers want an object


def test_the_spec_grammar_and_its_refusals() -> None:
    schema = parse_spec("mood: 'good' | 'bad', score: float?, notes: dict[str, int]")
    assert schema["properties"]["mood"] == {"enum": ["good", "bad"]}
    assert schema["properties"]["score"] == {"type": ["number", "null"]}
    assert schema["properties"]["notes"]["additionalProperties"] == {"type": "integer"}
    for bad, words in [
        ("city str", "not 'name: type'"),
        ("a: int, a: str", "given twice"),
        ("a: decimal", "unknown type"),
        ("", "names no field"),
    ]:
        with pytest.raises(OptionError, match=words):
            to_schema(bad)
    with pytest.raises(OptionError, match="expected a pydantic model"):
        to_schema(42)


def test_pydantic_models_are_used_when_given() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Review(pydantic.BaseModel):
        rating: int = pydantic.Field(ge=1, le=5)
        sentiment: Literal["positive", "negative", "mixed"]

    schema = to_schema(Review)
    assert schema.source == "pydantic" and [f.name for f in schema.fields] == [
        "rating",
        "sentiment",
    ]
    found = extract('{"rating": 4, "sentiment": "mixed"}', schema.json)
    assert found.ok and schema.build(found.value) == Review(rating=4, sentiment="mixed")
    assert extract('{"rating": 9, "sentiment": "mixed"}', schema.json).errors == (
        "rating: expected at most 5, got 9",
    )


# ----------------------------------------------------------------- extraction
@pytest.mark.parametrize(
    "text, where",
    [
        (json.dumps(PARIS), "whole"),
        ("Sure.\n```json\n" + json.dumps(PARIS) + "\n```\nDone.", "fence"),
        ("The answer is " + json.dumps(PARIS) + " as asked.", "prose"),
        ('First {"note": 1} then ' + json.dumps(PARIS), "prose"),
    ],
)
def test_json_is_found_in_the_answer_however_it_is_written(text: str, where: str) -> None:
    found = extract(text, to_schema(City).json)
    assert found.ok and found.value == PARIS and found.where == where


def test_validation_says_exactly_what_failed() -> None:
    schema = to_schema(City).json
    assert validate({"city": "Paris", "population": "many", "tags": [1]}, schema) == [
        'population: expected an integer, got "many"',
        "tags[0]: expected a string, got 1",
    ]
    assert validate({"city": "Paris", "tags": []}, schema) == ["population: missing"]
    # extra keys are dropped, not refused (no paid repair for noise)
    found = extract(json.dumps({**PARIS, "mayor": "x"}), schema)
    assert found.ok and "mayor" not in found.value
    assert extract("no json here", schema).no_json


# ----------------------------------------------------------------- the method per request
def test_r1_on_openrouter_gets_instructions_and_no_response_format(emu, session) -> None:
    emu.queue(Reply(answer=json.dumps(PARIS)))
    result = ask(emu, session, schema=City, provider="openrouter")
    body = emu.requests[-1]
    assert "response_format" not in body and "require_parameters" not in json.dumps(body)
    assert "JSON Schema" in body["messages"][-1]["content"]
    assert result.data == City("Paris", 2100000, ["capital"]) and result.data_error is None
    assert result.data_method == "instructions" and data_status(result) == "validated"


def test_a_model_listing_structured_outputs_gets_json_schema_and_require_parameters(
    emu, session
) -> None:
    model = "acme/structured-model"
    session.catalogues[emu.base_url.rstrip("/")] = Catalogue(
        emu.base_url,
        (ModelInfo(model, supported_parameters=frozenset({"structured_outputs", "seed"})),),
        "live",
        "2026-12-07",
    )
    emu.queue(Reply(answer=json.dumps(PARIS)))
    result = ask(
        emu,
        session,
        schema=City,
        provider="openrouter",
        model=model,
        extra={"provider": {"order": ["acme"]}},
    )
    body = emu.requests[-1]
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["properties"]["population"] == {
        "type": "integer"
    }
    assert body["provider"] == {"order": ["acme"], "require_parameters": True}
    assert data_status(result) == "enforced"
    assert "schema: json_schema, enforced by the server" in format_footer(result)


@pytest.mark.parametrize(
    "provider, kind",
    [
        ("vllm", "json_schema"),
        ("llamacpp", "json_schema"),
        ("ollama", "json_schema"),
        ("lmstudio", "json_schema"),
        ("local", None),
        ("custom", None),
    ],
)
def test_local_servers_by_the_table(emu, session, provider: str, kind: str | None) -> None:
    emu.queue(Reply(answer=json.dumps(PARIS)))
    result = ask(emu, session, schema=City, provider=provider)
    assert (emu.requests[-1].get("response_format") or {}).get("type") == kind
    assert result.data is not None


@pytest.mark.emulator(dialect="deepseek")
def test_deepseek_json_mode_retries_an_empty_content_once(emu, session) -> None:
    record = {"city": "Paris", "population": 2, "tags": []}
    emu.responder = SchemaResponder(lambda prompt: record, empty_every=1)
    result = ask(emu, session, schema=City, provider="deepseek", model="deepseek-flash")
    assert [b["response_format"] for b in emu.requests] == [{"type": "json_object"}] * 3
    assert "JSON Schema" in emu.requests[0]["messages"][-1]["content"]
    # empty, retried once, empty again: then one repair round (the default) gives the JSON
    assert result.data == City("Paris", 2, []) and result.data_retries == 1
    assert result.data_repairs == 1 and data_status(result) == "repaired"


@pytest.mark.emulator(dialect="deepseek")
def test_deepseek_empty_then_json(emu, session) -> None:
    emu.queue(Reply(answer=""), Reply(answer=json.dumps(PARIS)))
    result = ask(emu, session, schema=City, provider="deepseek", model="deepseek-flash")
    assert len(emu.requests) == 2 and result.data is not None and result.data_retries == 1
    assert "1 retry of empty content" in format_footer(result)


def test_strict_refuses_what_the_server_cannot_enforce_and_sends_nothing(emu, session) -> None:
    with pytest.raises(OptionError, match="cannot enforce the schema"):
        ask(emu, session, schema=City, provider="openrouter", strict=True)
    assert emu.requests == []


# ----------------------------------------------------------------- repair rounds
def test_a_wrong_type_is_repaired_and_the_round_is_counted(emu, session) -> None:
    bad = {**PARIS, "population": "about two million"}
    emu.queue(
        Reply(answer="Here:\n```json\n" + json.dumps(bad) + "\n```"),
        Reply(answer=json.dumps(PARIS)),
    )
    result = ask(emu, session, schema=City)
    repair = emu.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": emu.requests and repair[-2]["content"]}
    assert 'population: expected an integer, got "about two million"' in repair[-1]["content"]
    assert result.data == City("Paris", 2100000, ["capital"]) and result.data_repairs == 1
    assert len(result.rounds) == 1 and data_status(result) == "repaired"
    assert result.cost == pytest.approx(
        result.rounds[0].cost + (result.cost - result.rounds[0].cost)
    )
    footer = format_footer(result)
    assert "schema: instructions + validation, 1 repair round (+" in footer


@pytest.mark.parametrize("repair, sent", [(0, 1), (2, 3)])
def test_repair_rounds_are_bounded(emu, session, repair: int, sent: int) -> None:
    emu.responder = SchemaResponder(lambda p: PARIS, "missing")
    emu.queue(*[wild_reply(PARIS, "missing")] * 4)
    result = ask(emu, session, schema=City, repair=repair)
    assert len(emu.requests) == sent and result.data is None
    assert result.data_error is not None and "tags: missing" in result.data_error
    assert "\n" not in result.data_error


def test_repair_out_of_range_is_refused_before_sending(emu, session) -> None:
    for bad in (4, -1, "x"):
        with pytest.raises(Exception, match="repair"):
            ask(emu, session, schema=City, repair=bad)
    with pytest.raises(OptionError, match="needs a schema"):
        ask(emu, session, repair=1)
    assert emu.requests == []


def test_cut_json_names_the_token_limit(emu, session) -> None:
    emu.queue(wild_reply(PARIS, "cut"))
    with pytest.warns(UserWarning, match="max_completion_tokens=300 may not hold"):
        result = ask(emu, session, schema=City, max_completion_tokens=300)
    assert len(emu.requests) == 1  # no repair: it would be cut again
    assert result.data is None and result.data_error == (
        "the reply was cut at max_completion_tokens=300 inside the JSON (finish_reason: "
        "length): raise max_completion_tokens to about 600"
    )


def test_the_budget_check_refuses_under_strict(emu, session) -> None:
    session.catalogues[emu.base_url.rstrip("/")] = Catalogue(
        emu.base_url,
        (ModelInfo("m", supported_parameters=frozenset({"response_format"})),),
        "live",
        "2026-12-07",
    )
    with pytest.raises(OptionError, match="may not hold the reasoning"):
        ask(
            emu,
            session,
            schema=City,
            provider="openrouter",
            model="m",
            strict=True,
            max_completion_tokens=100,
        )
    assert emu.requests == []


# ----------------------------------------------------------------- display
def test_the_data_shows_as_an_escaped_table_and_aligned_text(emu, session) -> None:
    hostile = {"city": "<script>alert(1)</script>", "population": 1, "tags": ["$x$"]}
    emu.queue(Reply(answer=json.dumps(hostile)))
    result = ask(emu, session, schema=City)
    bundle, _ = render_result(result)
    assert '<table class="dsm-data"' in bundle["text/html"]
    assert "<script>" not in bundle["text/html"] and "&lt;script&gt;" in bundle["text/html"]
    assert '<details class="dsm-answer">' in bundle["text/html"]  # raw text collapsed
    assert "&#36;x&#36;" in bundle["text/markdown"]
    assert "population  1" in bundle["text/plain"]


def test_a_missing_data_says_so_in_one_line(emu, session) -> None:
    emu.queue(Reply(answer="I cannot tell."), Reply(answer="Still no."))
    result = ask(emu, session, schema=City)
    assert result.data is None and data_status(result) == "missing"
    assert (
        "No data: no valid data after 1 repair round: the answer holds no JSON value"
        in (render_result(result)[0]["text/plain"])
    )


# ----------------------------------------------------------------- map()
def _reviews(n: int) -> Any:
    return pd.DataFrame({"text": [f"review number {i}" for i in range(n)]})


def _truth(prompt: str) -> dict[str, Any]:
    n = int(prompt.split("review number ")[1].split()[0].strip(".,"))
    return {
        "rating": n % 5 + 1,
        "sentiment": "positive" if n % 2 else "negative",
        "pros": [f"p{n}"],
    }


SPEC = "rating: int, sentiment: 'positive' | 'negative', pros: list[str]"


def test_map_gives_typed_columns_and_failed_rows_are_retried(emu, session, tmp_path) -> None:
    shapes = {0: "clean", 1: "prose", 2: "fence", 3: "wrong_type", 4: "cut"}
    emu.responder = SchemaResponder(
        _truth,
        lambda p: shapes[int(p.split("review number ")[1].split()[0])],  # type: ignore[arg-type, return-value]
    )
    run_file = tmp_path / "run.sqlite"
    out = dm.map(
        _reviews(5),
        "Read: {text}",
        schema=SPEC,
        base_url=emu.base_url,
        session=session,
        run_file=run_file,
        progress=False,
    )
    assert str(out["rating"].dtype) == "Int64" and str(out["sentiment"].dtype) == "string"
    assert out["rating"].tolist()[:4] == [1, 2, 3, 4] and pd.isna(out["rating"][4])
    assert out["data_status"].tolist() == [
        "validated",
        "validated",
        "validated",
        "repaired",
        "missing",
    ]
    assert out["error"][4].startswith("no data: the reply was cut")
    assert out["answer"][4].startswith('{"rating": 5')  # the text that did not fit is kept
    assert out.attrs["requests"] == 6  # 5 rows + 1 repair round
    stored = (
        sqlite3.connect(run_file)
        .execute("SELECT result FROM rows WHERE status = 'done'")
        .fetchall()
    )
    assert len(stored) == 4 and all(json.loads(r[0])["data"]["rating"] for r in stored)
    # the next run resends only the failed row; the stored rows keep their typed data
    emu.responder = SchemaResponder(_truth, "clean")
    before = len(emu.requests)
    again = dm.map(
        _reviews(5),
        "Read: {text}",
        schema=SPEC,
        base_url=emu.base_url,
        session=session,
        run_file=run_file,
        progress=False,
    )
    assert len(emu.requests) == before + 1
    assert again["rating"].tolist() == [1, 2, 3, 4, 5]
    assert again["data_status"].tolist()[4] == "validated"


def test_map_refuses_a_field_named_like_its_own_columns(emu, session) -> None:
    with pytest.raises(OptionError, match="'answer' would replace"):
        dm.map(
            _reviews(2),
            "{text}",
            schema="answer: str",
            base_url=emu.base_url,
            session=session,
            run_file=None,
            progress=False,
        )
    assert emu.requests == []


# ----------------------------------------------------------------- the magic
def test_the_magic_takes_a_notebook_name_or_a_spec(emu, shell) -> None:
    emu.queue(Reply(answer=json.dumps(PARIS)), Reply(answer='{"city": "Rome"}'))
    shell.user_ns["City"] = City
    shell.run_cell_magic("deepseek", f"--base-url {emu.base_url} --schema City -o r", "Paris?")
    assert shell.user_ns["r"].data == City("Paris", 2100000, ["capital"])
    shell.run_cell_magic(
        "deepseek", f"--base-url {emu.base_url} --schema 'city: str' -o r", "Rome?"
    )
    assert shell.user_ns["r"].data == {"city": "Rome"}
    from IPython.core.error import UsageError

    with pytest.raises(UsageError, match="no 'Nope' in the notebook"):
        shell.run_cell_magic("deepseek", f"--base-url {emu.base_url} --schema Nope", "x")
    assert len(emu.requests) == 2


def test_dry_run_shows_the_method(emu, shell, capsys) -> None:
    shown: list[Any] = []
    import IPython.display

    real = IPython.display.display
    IPython.display.display = lambda obj, **kw: shown.append(obj)  # type: ignore[assignment]
    try:
        shell.run_cell_magic(
            "deepseek",
            f"--base-url {emu.base_url} --provider deepseek --schema 'a: int' --dry-run",
            "x",
        )
    finally:
        IPython.display.display = real  # type: ignore[assignment]
    text = shown[0]["text/plain"]
    assert '"response_format": {\n    "type": "json_object"' in text
    assert "schema: json_object (JSON enforced, the schema validated here)" in text
    assert emu.requests == []


def test_shape_by_hash_is_stable_and_weighted() -> None:
    prompts = [f"row {i}" for i in range(1000)]
    shapes = [shape_by_hash(p, [("clean", 60), ("prose", 30), ("wrong_type", 10)]) for p in prompts]
    assert shapes == [
        shape_by_hash(p, [("clean", 60), ("prose", 30), ("wrong_type", 10)]) for p in prompts
    ]
    assert 250 < shapes.count("prose") < 350 and 60 < shapes.count("wrong_type") < 140
    assert dataclasses.is_dataclass(City)


# ----------------------------------------------------------------- the other surfaces
def test_aask_validates_and_repairs_like_ask(emu, session) -> None:
    import asyncio

    emu.queue(Reply(answer='{"city": "Paris"}'), Reply(answer=json.dumps(PARIS)))
    result = asyncio.run(
        dm.aask("Tell me about Paris", session=session, base_url=emu.base_url, schema=City)
    )
    assert result.data == City("Paris", 2100000, ["capital"]) and result.data_repairs == 1
    assert "population: missing" in emu.requests[1]["messages"][-1]["content"]


def test_amap_gives_the_same_typed_columns(emu, session) -> None:
    import asyncio

    from deepseek_magic.batch._batch import amap_rows

    emu.responder = SchemaResponder(_truth, "fence")
    out = asyncio.run(
        amap_rows(
            _reviews(3),
            "Read: {text}",
            schema=SPEC,
            base_url=emu.base_url,
            session=session,
            run_file=None,
            progress=False,
        )
    )
    assert out["rating"].tolist() == [1, 2, 3] and str(out["rating"].dtype) == "Int64"


def test_a_sweep_keeps_the_schema_and_has_one_column_per_field(emu, session) -> None:
    emu.responder = SchemaResponder(lambda p: PARIS, "prose")
    frame = dm.sweep(
        "Tell me about Paris",
        {"temperature": [0.2, 0.8]},
        schema=City,
        base_url=emu.base_url,
        session=session,
    )
    assert all("JSON Schema" in b["messages"][-1]["content"] for b in emu.requests)
    assert frame["population"].tolist() == [2100000, 2100000]
    assert frame["data_status"].tolist() == ["validated", "validated"]


def test_a_replayed_reply_is_validated_again_and_costs_nothing(emu, session, tmp_path) -> None:
    from deepseek_magic.features._cache import Cache

    session.plug(Cache(tmp_path / "cache", mode="record"))
    emu.queue(Reply(answer=json.dumps(PARIS)))
    first = ask(emu, session, schema=City)
    session.unplug(Cache)
    session.plug(Cache(tmp_path / "cache", mode="replay"))
    again = ask(emu, session, schema=City)
    assert len(emu.requests) == 1 and again.cached
    assert again.data == first.data == City("Paris", 2100000, ["capital"])


def test_the_terminal_shows_the_data_as_aligned_text(emu, session) -> None:
    emu.queue(Reply(answer=json.dumps(PARIS)))
    result = ask(emu, session, schema=City)
    from deepseek_magic.view._render import render_plain_final

    text = render_plain_final(result)
    assert "city        Paris\npopulation  2100000\ntags        capital" in text


def test_a_list_schema_gives_a_list_of_instances(emu, session) -> None:
    rome = {"city": "Rome", "population": 2800000, "tags": []}
    emu.queue(Reply(answer="Two cities: " + json.dumps([PARIS, rome])))
    result = ask(emu, session, schema=list[City])
    assert result.data == [City("Paris", 2100000, ["capital"]), City("Rome", 2800000, [])]
    assert "a JSON array of values" in emu.requests[0]["messages"][-1]["content"]


def test_terminal_ipython_prints_the_data_after_the_answer(tmp_path) -> None:
    from tests.helpers.cells import run_terminal_ipython

    with Emulator(replies=[Reply(answer="Here: " + json.dumps(PARIS))]) as emu:
        script = (
            "%load_ext deepseek_magic\n"
            f"%deepseek --base-url {emu.base_url} --schema 'city: str, population: int' -o r "
            "Paris?\nprint('DATA=', r.data)\n"
        )
        proc = run_terminal_ipython(script, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "city        Paris" in proc.stdout and "population  2100000" in proc.stdout
    assert "schema: instructions + validation" in proc.stdout
    assert "DATA= {'city': 'Paris', 'population': 2100000}" in proc.stdout


# ----------------------------------------------------------------- the panel
def test_the_panel_schema_field_sends_shows_and_copies(emu, session) -> None:
    pytest.importorskip("ipywidgets")
    from types import SimpleNamespace

    from deepseek_magic.notebook._panel import panel

    session.config["base_url"] = emu.base_url
    shell = SimpleNamespace(user_ns={"City": City})
    p = panel("Tell me about Paris", session=session, shell=shell, schema=City)
    assert p.fields["schema"].value == "City"
    emu.queue(Reply(answer="Here: " + json.dumps(PARIS)))
    p.send_button.click()
    assert p.wait(20)
    assert p.last_result is not None and p.last_result.data == City("Paris", 2100000, ["capital"])
    html = "".join(o["data"].get("text/html", "") for o in p.output.outputs)
    assert '<table class="dsm-data"' in html
    assert "--schema City" in p.cell().splitlines()[0]
    p.fields["schema"].value = "city: str"
    emu.queue(Reply(answer='{"city": "Rome"}'))
    p.send_button.click()
    assert p.wait(20) and p.last_result.data == {"city": "Rome"}
    p.fields["schema"].value = "Nope"
    p.send_button.click()
    assert "no &#x27;Nope&#x27; in the notebook" in p.status.value and len(emu.requests) == 2


def test_what_schema_cannot_combine_with_is_refused_in_one_line(emu, session) -> None:
    with pytest.raises(OptionError, match="remove response_format from extra="):
        ask(emu, session, schema=City, extra={"response_format": {"type": "text"}})
    with pytest.raises(OptionError, match="does not continue a conversation yet"):
        ask(emu, session, schema=City, conversation="chat")
    assert emu.requests == []


def test_the_repr_shows_the_data_or_why_not(emu, session) -> None:
    emu.queue(Reply(answer='{"city": "Rome"}'))
    assert "data={'city': 'Rome'}" in repr(ask(emu, session, schema="city: str"))
    emu.queue(Reply(answer="no"), Reply(answer="no"))
    assert "data=None (no valid data after 1 repair round" in repr(
        ask(emu, session, schema="city: str")
    )


def test_over_in_a_cell_takes_the_schema_too(emu, shell) -> None:
    emu.responder = SchemaResponder(_truth, "prose")
    shell.user_ns["docs"] = _reviews(2)
    shell.user_ns["Spec"] = to_schema(SPEC)
    shell.run_cell_magic(
        "deepseek",
        f"--base-url {emu.base_url} --over docs --schema Spec --run-file none -o out",
        "Read: {{text}}",
    )
    out = shell.user_ns["out"]
    assert out["rating"].tolist() == [1, 2] and out["data_status"].tolist() == ["validated"] * 2
