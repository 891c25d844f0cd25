"""Tools: schemas from Python functions, running the model's calls, and the tool loop
end to end against the emulator (request bodies checked every round)."""

# Users write Optional, Union, List, typing.Sequence and string annotations: so do these tests.
# ruff: noqa: UP006, UP007, UP035, UP037, UP045

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import json
import typing
from typing import Annotated, Any, List, Literal, Optional, Sequence, TypedDict, Union

import pytest

from deepseek_magic import ToolError, ask
from deepseek_magic.core._result import Result, ToolCall
from deepseek_magic.emulator import Emulator, Reply, ToolCallSpec
from deepseek_magic.engine._tools import (
    check_arguments,
    json_schema_for,
    parse_docstring,
    prepare_tools,
    run_pending,
    run_tool_call,
    tool_spec,
)
from deepseek_magic.view._render import render_plain_final, render_result
from tests.helpers.cells import run_cell


def params(fn: Any) -> dict[str, Any]:
    return tool_spec(fn)["function"]["parameters"]


# ---------------------------------------------------------------------- docstrings
GOOGLE = """Get the weather
    for a city.

    More words that are not the summary.

    Args:
        city (str): The city name.
        units: Celsius or
            fahrenheit.

        days (int, optional): How many days. Defaults to 1.
        *extra: Ignored.

    Returns:
        str: the weather.
    """

NUMPY = """Get the weather for a city.

    Parameters
    ----------
    city : str
        The city name.
    units : {'c', 'f'}
        Celsius or
        fahrenheit.
    lat, lon : float
        Where.

    Returns
    -------
    str
        The weather.
    """

SPHINX = """Get the weather for a city.

    :param city: The city name.
    :param str units: Celsius or
        fahrenheit.
    :type units: str
    :keyword days: How many days.
    :returns: the weather
    :rtype: str
    """


def test_google_docstring() -> None:
    summary, described = parse_docstring(GOOGLE)
    assert summary == "Get the weather for a city."
    assert described == {
        "city": "The city name.",
        "units": "Celsius or fahrenheit.",
        "days": "How many days. Defaults to 1.",
        "extra": "Ignored.",
    }


def test_numpy_docstring() -> None:
    summary, described = parse_docstring(NUMPY)
    assert summary == "Get the weather for a city."
    assert described == {
        "city": "The city name.",
        "units": "Celsius or fahrenheit.",
        "lat": "Where.",
        "lon": "Where.",
    }


def test_sphinx_docstring() -> None:
    summary, described = parse_docstring(SPHINX)
    assert summary == "Get the weather for a city."
    assert described == {
        "city": "The city name.",
        "units": "Celsius or fahrenheit.",
        "days": "How many days.",
    }


def test_docstring_edge_cases() -> None:
    assert parse_docstring(None) == ("", {})
    assert parse_docstring("One line.") == ("One line.", {})
    # no blank line before the fields: the summary still stops there
    assert parse_docstring("Add.\n:param a: first\n:param b: second") == (
        "Add.",
        {"a": "first", "b": "second"},
    )
    assert parse_docstring("Add.\nArgs:\n    a: first") == ("Add.", {"a": "first"})


def test_docstring_reaches_the_spec() -> None:
    def weather(city: str, units: str = "c", days: int = 1) -> str:
        return ""

    weather.__doc__ = GOOGLE
    fn = tool_spec(weather)["function"]
    assert fn["name"] == "weather" and fn["description"] == "Get the weather for a city."
    assert fn["parameters"]["properties"]["city"] == {
        "type": "string",
        "description": "The city name.",
    }
    assert fn["parameters"]["properties"]["days"] == {
        "type": "integer",
        "description": "How many days. Defaults to 1.",
        "default": 1,
    }
    assert fn["parameters"]["required"] == ["city"]


def test_no_docstring_uses_the_name() -> None:
    def shout(text: str) -> str:
        return text.upper()

    assert tool_spec(shout)["function"]["description"] == "shout"


# ---------------------------------------------------------------------- hints
class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Shape(enum.Enum):
    SQUARE = (1, 1)
    LINE = (1, 0)


@dataclasses.dataclass
class Point:
    x: float
    y: float = 0.0
    label: Optional[str] = None


@dataclasses.dataclass
class Node:
    name: str
    children: "list[Node]" = dataclasses.field(default_factory=list)


class Movie(TypedDict):
    title: str
    year: int


class Filters(TypedDict, total=False):
    genre: str


@pytest.mark.parametrize(
    "hint, schema",
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (Any, {}),
        (type(None), {"type": "null"}),
        (Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}),
        (Literal[1, 2], {"type": "integer", "enum": [1, 2]}),
        (Literal["a", 1], {"enum": ["a", 1]}),
        (Color, {"type": "string", "enum": ["red", "blue"]}),
        (Level, {"type": "integer", "enum": [1, 2]}),
        (Shape, {"type": "string", "enum": ["SQUARE", "LINE"]}),  # values not JSON: names
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (List[str], {"type": "array", "items": {"type": "string"}}),
        (Sequence[str], {"type": "array", "items": {"type": "string"}}),
        (list, {"type": "array"}),
        (set[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (
            tuple[int, str],
            {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "minItems": 2,
                "maxItems": 2,
            },
        ),
        (dict, {"type": "object"}),
        (dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}),
        (typing.Dict[str, Any], {"type": "object"}),
        (Optional[int], {"type": "integer"}),
        (int | None, {"type": "integer"}),
        (Union[int, str], {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (Union[int, Any], {}),
        (Annotated[str, "The city."], {"type": "string", "description": "The city."}),
        (list[Color], {"type": "array", "items": {"type": "string", "enum": ["red", "blue"]}}),
        (
            Point,
            {
                "type": "object",
                "properties": {
                    "x": {"type": "number"},
                    "y": {"type": "number"},
                    "label": {"type": "string"},
                },
                "required": ["x"],
            },
        ),
        (
            Movie,
            {
                "type": "object",
                "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
                "required": ["title", "year"],
            },
        ),
        (Filters, {"type": "object", "properties": {"genre": {"type": "string"}}}),
        (dt.date, {"type": "string", "format": "date"}),
        (dt.datetime, {"type": "string", "format": "date-time"}),
        ("NotResolvable", {}),
    ],
)
def test_every_hint_kind(hint: Any, schema: dict[str, Any]) -> None:
    assert json_schema_for(hint) == schema


def test_recursive_dataclass_does_not_loop() -> None:
    schema = json_schema_for(Node)
    assert schema["properties"]["children"] == {"type": "array", "items": {"type": "object"}}


def test_defaults_required_and_skipped_parameters() -> None:
    marker = object()

    def f(
        a: int,
        /,
        b: str,
        *args: int,
        c: Color = Color.BLUE,
        d: list[int] = [1, 2],  # noqa: B006
        e: object = marker,
        f: Optional[str] = None,
        **kwargs: Any,
    ) -> None:
        """Do f."""

    p = params(f)
    assert list(p["properties"]) == ["a", "b", "c", "d", "e", "f"]  # *args / **kwargs left out
    assert p["required"] == ["a", "b"]
    assert p["properties"]["c"] == {"type": "string", "enum": ["red", "blue"], "default": "blue"}
    assert p["properties"]["d"]["default"] == [1, 2]
    assert "default" not in p["properties"]["e"]  # not JSON: not shown
    assert p["properties"]["f"] == {"type": "string", "default": None}


def test_unannotated_and_string_annotations() -> None:
    def g(x, y: "Undefined123") -> None:  # type: ignore[name-defined]  # noqa: F821
        """G."""

    assert params(g) == {"type": "object", "properties": {"x": {}, "y": {}}, "required": ["x", "y"]}


@pytest.mark.parametrize(
    "bad, words",
    [
        (lambda x: x, "lambda"),
        (Point, "cannot be a tool"),
        (42, "cannot be a tool"),
    ],
)
def test_what_cannot_be_a_tool(bad: Any, words: str) -> None:
    with pytest.raises(ToolError, match=words) as info:
        tool_spec(bad)
    assert "\n" not in str(info.value)


def test_partial_is_refused_clearly() -> None:
    import functools

    def add(a: int, b: int) -> int:
        return a + b

    with pytest.raises(ToolError, match="named function"):
        tool_spec(functools.partial(add, 1))


# ---------------------------------------------------------------------- prepare_tools
def get_weather(city: str, days: int = 1) -> str:
    """Weather for a city.

    Args:
        city: The city.
        days: How many days.
    """
    return f"Sunny in {city} for {days} day(s)"


RAW = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look up.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
    },
}


def test_prepare_tools_accepts_functions_and_raw_specs() -> None:
    specs, functions = prepare_tools([get_weather, [RAW]])
    assert [s["function"]["name"] for s in specs] == ["get_weather", "lookup"]
    assert specs[1] == RAW and functions == {"get_weather": get_weather}


def test_a_raw_spec_pairs_with_a_function_of_its_name() -> None:
    custom = {
        "type": "function",
        "function": {"name": "get_weather", "description": "Custom text."},
    }
    specs, functions = prepare_tools([custom, get_weather])
    assert specs == [custom] and functions["get_weather"] is get_weather


def test_prepare_tools_refusals() -> None:
    def get_weather(x: int) -> None:  # same name, another function
        """Other."""

    with pytest.raises(ToolError, match="Two functions share the name get_weather"):
        prepare_tools([globals()["get_weather"], get_weather])
    with pytest.raises(ToolError, match="Two tool specs"):
        prepare_tools([RAW, dict(RAW)])
    with pytest.raises(ToolError, match="Not an OpenAI tool spec"):
        prepare_tools([{"name": "x"}])


# ---------------------------------------------------------------------- running one call
class Recorder:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def tools(self) -> dict[str, Any]:
        rec = self

        def add(a: int, b: int = 0) -> int:
            """Add."""
            rec.calls.append({"a": a, "b": b})
            return a + b

        def paint(
            color: Color, where: Point, when: dt.date, tags: tuple[str, ...] = ()
        ) -> dict[str, Any]:
            """Paint."""
            rec.calls.append({"color": color, "where": where, "when": when, "tags": tags})
            return {
                "painted": color.value,
                "x": where.x,
                "day": when.isoformat(),
                "tags": list(tags),
            }

        def scale(x: float) -> float:
            """Scale."""
            rec.calls.append({"x": x})
            return x * 2

        def fail(reason: str) -> None:
            """Always fails."""
            rec.calls.append({"reason": reason})
            raise ValueError(f"cannot: {reason}")

        return {"add": add, "paint": paint, "scale": scale, "fail": fail}


def call(name: str, arguments: str, call_id: str = "call_1") -> ToolCall:
    return ToolCall(id=call_id, name=name, arguments=arguments)


def test_a_call_runs_and_its_output_is_text() -> None:
    rec = Recorder()
    done = run_tool_call(call("add", '{"a": 2, "b": 3}'), rec.tools())
    assert done.output == "5" and done.error is None and done.elapsed is not None
    assert done.id == "call_1" and done.arguments == '{"a": 2, "b": 3}'


def test_arguments_are_converted_to_the_hinted_types() -> None:
    rec = Recorder()
    done = run_tool_call(
        call(
            "paint",
            json.dumps(
                {
                    "color": "red",
                    "where": {"x": 1, "y": 2},
                    "when": "2025-01-20",
                    "tags": ["a", "b"],
                }
            ),
        ),
        rec.tools(),
    )
    assert done.error is None, done.error
    got = rec.calls[0]
    assert (
        got["color"] is Color.RED
        and got["where"] == Point(1, 2)
        and got["when"] == dt.date(2025, 1, 20)
    )
    assert got["tags"] == ("a", "b")
    assert json.loads(done.output) == {
        "painted": "red",
        "x": 1,
        "day": "2025-01-20",
        "tags": ["a", "b"],
    }


def test_integral_float_is_an_integer_and_int_is_a_number() -> None:
    rec = Recorder()
    assert run_tool_call(call("add", '{"a": 2.0}'), rec.tools()).output == "2"
    assert rec.calls[-1] == {"a": 2, "b": 0} and type(rec.calls[-1]["a"]) is int
    assert run_tool_call(call("scale", '{"x": 3}'), rec.tools()).output == "6.0"


@pytest.mark.parametrize(
    "name, arguments, words",
    [
        ("nope", "{}", "Unknown tool 'nope'; available tools: add, fail, paint, scale"),
        ("add", '{"a": 1,', "not valid JSON"),
        ("add", "[1, 2]", "not valid JSON"),
        ("add", '{"b": 1}', "a is missing"),
        ("add", '{"a": 1, "c": 2}', "c is not a parameter"),
        ("add", '{"a": "two"}', 'a must be an integer, not a string "two"'),
        ("add", '{"a": true}', "a must be an integer, not true or false true"),
        ("add", '{"a": 1.5}', "a must be an integer"),
        (
            "paint",
            '{"color": "green", "where": {"x": 1}, "when": "2025-01-01"}',
            "color must be one of",
        ),
        (
            "paint",
            '{"color": "red", "where": {"y": 1}, "when": "2025-01-01"}',
            "where.x is missing",
        ),
        (
            "paint",
            '{"color": "red", "where": {"x": "far"}, "when": "2025-01-01"}',
            "where.x must be a number",
        ),
        (
            "paint",
            '{"color": "red", "where": {"x": 1}, "when": "someday"}',
            "Wrong arguments for paint",
        ),
        (
            "paint",
            '{"color": "red", "where": {"x": 1}, "when": "2025-01-01", "tags": [1]}',
            "tags[0] must be a string",
        ),
    ],
)
def test_model_mistakes_become_error_text_and_nothing_runs(
    name: str, arguments: str, words: str
) -> None:
    rec = Recorder()
    done = run_tool_call(call(name, arguments), rec.tools())
    assert done.output is None and words in (done.error or "")
    assert rec.calls == []


def test_an_exception_in_the_tool_becomes_error_text() -> None:
    rec = Recorder()
    done = run_tool_call(call("fail", '{"reason": "disk full"}'), rec.tools())
    assert (
        done.error == "ValueError: cannot: disk full"
        and done.output is None
        and done.elapsed is not None
    )


def test_keyboard_interrupt_is_not_swallowed() -> None:
    def stop() -> None:
        """Stop."""
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_tool_call(call("stop", "{}"), {"stop": stop})


def test_async_tools_and_long_output() -> None:
    async def fetch(n: int) -> str:
        """Fetch."""
        return "x" * n

    done = run_tool_call(call("fetch", '{"n": 30000}'), {"fetch": fetch})
    assert (
        done.output is not None
        and done.output.startswith("x" * 100)
        and "cut at 20000" in done.output
    )


def test_positional_only_parameters_are_passed_by_position() -> None:
    def power(base: int, /, exp: int = 2) -> int:
        """Power."""
        return base**exp

    assert run_tool_call(call("power", '{"base": 3, "exp": 3}'), {"power": power}).output == "27"


def test_check_arguments_anyof_and_nested() -> None:
    schema = json_schema_for(Union[int, list[str]])
    assert check_arguments(3, schema) == [] and check_arguments(["a"], schema) == []
    assert check_arguments("x", schema, "v") == ['v = "x" matches none of the allowed types']


def test_run_pending_runs_only_what_was_not_run() -> None:
    rec = Recorder()
    result = Result(
        tool_calls=(
            call("add", '{"a": 1, "b": 1}', "c1"),
            ToolCall("c2", "add", '{"a": 5}', output="5"),
            call("ghost", "{}", "c3"),
        )
    )
    done = run_pending(result, list(rec.tools().values()))
    assert [c.output for c in done] == ["2", "5", None]
    assert "Unknown tool 'ghost'" in (done[2].error or "")
    assert rec.calls == [{"a": 1, "b": 1}]  # c2 was already run: not again
    assert run_pending(result, rec.tools())[0].output == "2"  # a name -> function mapping works too


# ---------------------------------------------------------------------- the loop, end to end
def script(*rounds: Reply) -> tuple[list[dict[str, Any]], Any]:
    """A responder replying round by round (by the number of tool results so far)."""
    bodies: list[dict[str, Any]] = []

    def responder(body: dict[str, Any]) -> Reply:
        bodies.append(body)
        turns = sum(1 for m in body["messages"] if m["role"] == "assistant")
        return rounds[min(turns, len(rounds) - 1)]

    return bodies, responder


PARALLEL = Reply(
    reasoning="I need the weather and a sum.",
    tool_calls=[
        ToolCallSpec("get_weather", {"city": "Paris", "days": 2}, id="call_w"),
        ToolCallSpec("add", {"a": 20, "b": 22}, id="call_a"),
    ],
)


@pytest.mark.parametrize("stream", [True, False])
def test_parallel_calls_split_arguments_and_the_second_round(session, stream: bool) -> None:
    rec = Recorder()
    bodies, responder = script(PARALLEL, Reply(reasoning="Now answer.", answer="Sunny, and 42."))
    with Emulator(responder=responder, tokens_per_chunk=1) as emu:
        result = ask(
            "Weather in Paris, and 20+22?",
            base_url=emu.base_url,
            provider="openrouter",
            session=session,
            tools=[get_weather, rec.tools()["add"]],
            run_tools=True,
            stream=stream,
        )
    assert result.answer == "Sunny, and 42." and result.ok
    assert len(bodies) == 2 and len(result.rounds) == 1
    first = result.rounds[0]
    assert [c.output for c in first.tool_calls] == ["Sunny in Paris for 2 day(s)", "42"]
    assert rec.calls == [{"a": 20, "b": 22}]
    assert [t["function"]["name"] for t in bodies[0]["tools"]] == ["get_weather", "add"]
    messages = bodies[1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assistant = messages[1]
    assert assistant["reasoning"] == "I need the weather and a sum."
    assert [
        (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
        for c in assistant["tool_calls"]
    ] == [
        ("call_w", "get_weather", {"city": "Paris", "days": 2}),
        ("call_a", "add", {"a": 20, "b": 22}),
    ]
    assert messages[2:] == [
        {"role": "tool", "tool_call_id": "call_w", "content": "Sunny in Paris for 2 day(s)"},
        {"role": "tool", "tool_call_id": "call_a", "content": "42"},
    ]
    assert bodies[1]["tools"] == bodies[0]["tools"]  # the tools stay offered
    # the session history holds the whole exchange as one Result
    assert session.history.last is result


def test_arguments_really_arrive_in_fragments() -> None:
    with Emulator(replies=[PARALLEL], tokens_per_chunk=1) as emu:
        import httpx

        text = httpx.post(
            f"{emu.base_url}/chat/completions",
            json={"model": "m", "stream": True, "messages": [{"role": "user", "content": "x"}]},
        ).text
    fragments = [line for line in text.splitlines() if '"arguments"' in line]
    assert len(fragments) > 6  # many argument pieces per call, merged by the accumulator


def test_model_mistakes_and_a_failing_tool_go_back_and_the_loop_continues(session) -> None:
    rec = Recorder()
    bad = Reply(
        tool_calls=[
            ToolCallSpec("teleport", "{}", id="c_unknown"),
            ToolCallSpec("add", '{"a": 1,', id="c_json"),
            ToolCallSpec("add", {"a": "one"}, id="c_type"),
            ToolCallSpec("fail", {"reason": "no disk"}, id="c_raise"),
        ]
    )
    bodies, responder = script(bad, Reply(answer="Sorry, the tools failed."))
    with Emulator(responder=responder) as emu:
        result = ask(
            "Do things.",
            base_url=emu.base_url,
            session=session,
            tools=list(rec.tools().values()),
            run_tools=True,
        )
    assert result.answer == "Sorry, the tools failed." and len(bodies) == 2
    tool_messages = {
        m["tool_call_id"]: m["content"] for m in bodies[1]["messages"] if m["role"] == "tool"
    }
    assert tool_messages["c_unknown"].startswith(
        "Error: Unknown tool 'teleport'; available tools: add, fail"
    )
    assert "not valid JSON" in tool_messages["c_json"]
    assert "a must be an integer" in tool_messages["c_type"]
    assert tool_messages["c_raise"] == "Error: ValueError: cannot: no disk"
    assert rec.calls == [{"reason": "no disk"}]  # only the well-formed call ran
    errors = [c.error for c in result.rounds[0].tool_calls]
    assert all(errors) and len(errors) == 4


@pytest.mark.parametrize(
    "provider, dialect, field, absent",
    [
        ("openrouter", "openrouter", "reasoning", "reasoning_content"),
        ("deepseek", "deepseek", "reasoning_content", "reasoning"),
        (None, "vllm", "reasoning", "reasoning_content"),  # a local server: inside a tool turn only
    ],
)
def test_reasoning_goes_back_per_provider(
    session, provider: str | None, dialect: str, field: str, absent: str
) -> None:
    bodies, responder = script(
        Reply(
            reasoning="Think about the tool.",
            tool_calls=[ToolCallSpec("get_weather", {"city": "Oslo"})],
        ),
        Reply(reasoning="Done thinking.", answer="Cold."),
    )
    with Emulator(responder=responder, dialect=dialect) as emu:
        result = ask(
            "Weather in Oslo?",
            base_url=emu.base_url,
            provider=provider,
            session=session,
            tools=[get_weather],
            run_tools=True,
        )
    assert result.answer == "Cold." and result.rounds[0].reasoning == "Think about the tool."
    assistant = bodies[1]["messages"][1]
    assert assistant[field] == "Think about the tool." and absent not in assistant
    tool = bodies[1]["messages"][2]
    assert (
        tool["tool_call_id"]
        == assistant["tool_calls"][0]["id"]
        == result.rounds[0].tool_calls[0].id
    )


def test_deepseek_tool_turn_always_carries_reasoning_content(session) -> None:
    bodies, responder = script(
        Reply(tool_calls=[ToolCallSpec("get_weather", {"city": "Oslo"})]), Reply(answer="Cold.")
    )
    with Emulator(responder=responder, dialect="deepseek") as emu:
        ask(
            "Weather?",
            base_url=emu.base_url,
            provider="deepseek",
            session=session,
            tools=[get_weather],
            run_tools=True,
        )
    assert bodies[1]["messages"][1]["reasoning_content"] == ""


def test_without_run_tools_calls_are_shown_not_run(session) -> None:
    rec = Recorder()
    with Emulator(replies=[PARALLEL]) as emu:
        result = ask(
            "Weather?",
            base_url=emu.base_url,
            session=session,
            tools=[get_weather, rec.tools()["add"]],
        )
        assert len(emu.requests) == 1
    assert result.finish_reason == "tool_calls" and result.rounds == ()
    assert [(c.name, c.output, c.error) for c in result.tool_calls] == [
        ("get_weather", None, None),
        ("add", None, None),
    ]
    assert rec.calls == []
    bundle, _ = render_result(result)
    assert bundle["text/html"].count("not run") == 2 and "get_weather" in bundle["text/plain"]
    done = run_pending(result, [get_weather, rec.tools()["add"]])
    assert [c.output for c in done] == ["Sunny in Paris for 2 day(s)", "42"]


def test_the_round_limit_leaves_the_last_calls_pending(session) -> None:
    rec = Recorder()
    always = Reply(tool_calls=[ToolCallSpec("add", {"a": 1, "b": 1})])
    with Emulator(responder=lambda body: always) as emu:
        with pytest.warns(UserWarning, match="Stopped after 2 tool rounds"):
            result = ask(
                "Loop forever.",
                base_url=emu.base_url,
                session=session,
                tools=[rec.tools()["add"]],
                run_tools=True,
                max_tool_rounds=2,
            )
        assert len(emu.requests) == 3
    assert len(rec.calls) == 2  # not 3: the last calls' results would never reach the model
    assert len(result.rounds) == 2 and result.tool_calls[0].output is None


def test_a_raw_spec_without_a_function_stops_the_loop(session) -> None:
    with Emulator(replies=[Reply(tool_calls=[ToolCallSpec("lookup", {"q": "x"})])]) as emu:
        result = ask(
            "Look it up.", base_url=emu.base_url, session=session, tools=[RAW], run_tools=True
        )
        assert len(emu.requests) == 1
    assert result.tool_calls[0].name == "lookup" and result.tool_calls[0].output is None


def test_three_rounds_keep_the_whole_exchange_and_the_view_shows_it(session) -> None:
    rec = Recorder()
    bodies, responder = script(
        Reply(tool_calls=[ToolCallSpec("fail", {"reason": "<b>x</b>"})]),
        Reply(tool_calls=[ToolCallSpec("add", {"a": 1})]),
        Reply(answer="Done."),
    )
    with Emulator(responder=responder) as emu:
        result = ask(
            "Go.",
            base_url=emu.base_url,
            session=session,
            tools=list(rec.tools().values()),
            run_tools=True,
        )
    assert len(result.rounds) == 2 and result.answer == "Done."
    # every request carries every earlier round, not only the last one
    assert [m["role"] for m in bodies[2]["messages"]] == [
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
    ]
    assert [
        m["tool_calls"][0]["function"]["name"]
        for m in bodies[2]["messages"]
        if m["role"] == "assistant"
    ] == ["fail", "add"]
    html = render_result(result)[0]["text/html"]
    assert "Tool · fail · error" in html and "Tool · add · done" in html
    assert (
        "<b>x</b>" not in html and "&lt;b&gt;x&lt;/b&gt;" in html
    )  # model text is never live HTML
    plain = render_plain_final(result)
    assert "[tool fail(" in plain and "-> error: ValueError" in plain and "[tool add(" in plain


# ---------------------------------------------------------------------- through the magic
def test_magic_run_tools(shell) -> None:
    shell.user_ns["get_weather"] = get_weather
    bodies, responder = script(
        Reply(tool_calls=[ToolCallSpec("get_weather", {"city": "Rome"})]),
        Reply(answer="Sunny in Rome."),
    )
    with Emulator(responder=responder) as emu:
        run = run_cell(
            shell,
            f"%%deepseek --base-url {emu.base_url} --tools get_weather --run-tools -o r\nRome?",
        )
    assert run.success, run.error
    r = shell.user_ns["r"]
    assert (
        r.answer == "Sunny in Rome."
        and r.rounds[0].tool_calls[0].output == "Sunny in Rome for 1 day(s)"
    )
    assert len(bodies) == 2 and "Tool · get_weather · done" in run.final["text/html"]


def test_magic_without_run_tools_holds_the_calls(shell) -> None:
    shell.user_ns["get_weather"] = get_weather
    with Emulator(
        replies=[Reply(tool_calls=[ToolCallSpec("get_weather", {"city": "Rome"})])]
    ) as emu:
        run = run_cell(
            shell, f"%%deepseek --base-url {emu.base_url} --tools get_weather -o r\nRome?"
        )
        assert len(emu.requests) == 1
    assert run.success, run.error
    assert shell.user_ns["r"].tool_calls[0].output is None
    assert "Tool · get_weather · not run" in run.final["text/html"]


def test_magic_refuses_a_lambda_tool_in_one_line(shell) -> None:
    shell.user_ns["f"] = lambda city: city
    with Emulator() as emu:
        run = run_cell(shell, f"%%deepseek --base-url {emu.base_url} --tools f\nHi")
        assert emu.requests == []
    assert (
        type(run.error).__name__ == "UsageError"
        and "lambda" in str(run.error)
        and "\n" not in str(run.error)
    )
