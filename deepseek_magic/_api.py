"""``ask()`` and ``aask()``: what the magic does, as plain Python, without display.

Both share :func:`prepare` (validate options, resolve settings, build the request: no
network before this succeeds) and :func:`_finish` (tool rounds, conversation, history).
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._call import SETTING_BY_NAME, Call, pick, split_keywords
from ._errors import ConfigError, DeepSeekError, OptionError
from ._options import validate_options
from ._providers import provider_for_dialect
from ._result import Result, ToolCall
from ._session import SESSION, Conversation, Session
from ._settings import Provider, Settings, resolve_settings
from ._tools import prepare_tools, run_tool_call
from .client._catalogue import Catalogue, check_model, known_catalogue, now_utc, price_for
from .client._events import ChatEvent
from .client._request import Request, build_request, normalize_messages
from .features import start
from .features._schema_run import SchemaRun, plan_schema

if TYPE_CHECKING:  # the client (and httpx with it) loads on the first request, not at %load_ext
    from .client._http import AsyncChatStream, AsyncClient, ChatStream, Client

__all__ = ["ask", "aask", "prepare", "Prepared", "assistant_message", "DEFAULT_MAX_TOOL_ROUNDS"]

DEFAULT_MAX_TOOL_ROUNDS: int = SETTING_BY_NAME["max_tool_rounds"].default

EventHook = Callable[[ChatEvent, Any], None]


@dataclass
class Prepared:
    """Everything decided before the first byte is sent."""

    request: Request
    settings: Settings
    options: dict[str, Any]
    conversation: Conversation | None = None
    run_tools: bool = False
    max_tool_rounds: int = DEFAULT_MAX_TOOL_ROUNDS
    keep_chunks: bool = False
    #: the user's new messages (what a conversation gains besides the reply)
    new_messages: list[dict[str, Any]] = field(default_factory=list)
    #: a reply longer than this many characters is cut off with a StreamError
    max_reply_chars: int = SETTING_BY_NAME["max_reply_chars"].default
    #: what ``build_request`` was given besides the options (implied options, the model's
    #: supported parameters, the price lookup): a sweep rebuilds requests with the same
    build: dict[str, Any] = field(default_factory=dict)
    #: typed answers (``schema=``): the extra-rounds hook, ``features._schema_run.SchemaRun``
    schema: SchemaRun | None = None


def prepare(
    prompt: str | Sequence[Mapping[str, Any]],
    *,
    session: Session,
    options: Mapping[str, Any],
    call: Call | None = None,
    warn: Callable[[str], None] | None = None,
    require_key: bool = True,
    **given: Any,
) -> Prepared:
    """Validate and build the request; raises before any network activity. Pure: it
    reads the session (its config, defaults, features, offline mode) and changes nothing
    (features are plugged in by ``features.start()``, never here).

    ``options`` are the request options (the option table); ``call`` the call settings
    (the settings table), to which ``given`` keywords (``model=``, ``base_url=`` ...)
    are added. ``require_key=False`` builds a request that will not be sent (``--dry-run``): a
    missing key is then no error.
    """
    call = (call or Call()).replace(**given) if given else call or Call()
    merged = {**session.defaults, **{k: v for k, v in options.items() if v is not None}}
    values = validate_options(merged, warn=warn)
    offline = session.offline
    if offline is not None and call.given("base_url") is None and call.given("provider") is None:
        # The emulator speaks one provider's dialect: that provider's rules apply.
        call = call.replace(
            base_url=offline.base_url, provider=provider_for_dialect(offline.dialect).name
        )
    # A replay cache answers without a key (it raises its own missing-key error on a miss).
    keyless = session.serves_without_key
    settings = resolve_settings(
        call, config=session.config, require_key=require_key and not keyless
    )
    if offline is not None and settings.base_url == offline.base_url.rstrip("/"):
        settings = settings.with_(offline=True)
    refusal = _browser_refusal(settings.base_url) if sys.platform == "emscripten" else None
    if refusal is not None:  # in JupyterLite: a host that refuses pages, said before sending
        raise ConfigError(refusal)
    catalogue = known_catalogue(session, settings)
    if settings.short_name_used and catalogue is not None:
        model = settings.provider.resolve_model(settings.requested_model, catalogue.ids)
        settings = settings.with_(model=model)
    check_model(settings.model, settings.provider, catalogue)
    new_messages = normalize_messages(prompt, system=None)
    conv = session.conversation(call.conversation) if call.conversation else None
    history = list(conv.messages) if conv else []
    messages = normalize_messages(
        history + new_messages, system=pick("system", call, session.config)[0]
    )
    specs, functions = prepare_tools(values["tools"]) if "tools" in values else (None, {})
    choice = values.get("tool_choice")
    if (
        choice is not None
        and choice not in ("none", "auto", "required")
        and choice not in functions
        and choice not in [s["function"]["name"] for s in specs or []]
    ):
        raise OptionError(
            f"--tool-choice {choice}: no offered tool has that name.", option="tool_choice"
        )
    build = _build_args(session, settings, catalogue)
    request = build_request(
        messages,
        settings,
        values,
        stream=call.stream,
        extra=call.extra,
        tool_specs=specs,
        tool_functions=functions,
        **build,
    )
    strict = pick("strict", call, session.config)[0]
    request, schema = plan_schema(
        request,
        given=call.schema,
        repair=call.given("repair"),
        strict=strict,
        settings=settings,
        catalogue=catalogue,
        session=session,
        warn=warn,
        conversation=conv is not None,
    )
    if strict and (request.plan.ignored or request.plan.not_sent):
        raise OptionError(
            f"Not sent (strict): {'; '.join(request.plan.notes())}. Remove these "
            "options, or send without --strict (strict=False).",
            option="strict",
        )
    return Prepared(
        request,
        settings,
        values,
        conv,
        call.run_tools,
        call.max_tool_rounds,
        call.keep_chunks,
        new_messages,
        call.max_reply_chars,
        build,
        schema,
    )


def _build_args(
    session: Session, settings: Settings, catalogue: Catalogue | None
) -> dict[str, Any]:
    """What the provider and the catalogue add to a request: the options a resolved short
    name implies, the model's supported parameters (a live catalogue only: a snapshot may
    be stale) and the price lookup for the model that will answer."""
    provider = settings.provider
    live = catalogue is not None and catalogue.source == "live"
    info = catalogue.get(settings.model) if live and catalogue is not None else None
    config = dict(session.config)
    when = now_utc()  # the request's time picks a time-of-day price
    return {
        "implied": dict(provider.alias_options) if settings.short_name_used else None,
        "supported": info.supported_parameters if info is not None else None,
        "rules": catalogue.rules(settings.model) if catalogue is not None else None,
        "price": lambda model: price_for(
            model or settings.model, provider, catalogue, config, when=when
        ),
    }


def _browser_refusal(url: str) -> str | None:
    from .client._fetch_transport import browser_refusal

    return browser_refusal(url)


def assistant_message(
    result: Result, provider: Provider, *, in_tool_turn: bool = False
) -> dict[str, Any]:
    """The assistant turn to send back in a later request, following the provider's rule
    for reasoning (``Provider.resend_reasoning`` / ``reasoning_field``, wire-format.md
    sections 5 and 10): some accept it back on every turn, others want it only inside tool
    turns, and some refuse a tool turn without the field (``reasoning_required_in_tool_turn``)."""
    message: dict[str, Any] = {"role": "assistant", "content": result.answer}
    if result.tool_calls:
        message["tool_calls"] = [c.to_wire() for c in result.tool_calls]
    if result.reasoning and (provider.resend_reasoning == "always" or in_tool_turn):
        message[provider.reasoning_field] = result.reasoning
    elif in_tool_turn and provider.reasoning_required_in_tool_turn:
        # Refused without the field, even when no reasoning came back (section 5).
        message[provider.reasoning_field] = ""
    return message


def _tool_messages(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "role": "tool",
            "tool_call_id": c.id,
            "content": c.output if c.error is None else f"Error: {c.error}",
        }
        for c in calls
    ]


def _next_round(
    prep: Prepared, result: Result, request: Request, *, more: bool = True
) -> tuple[Result, Request | None]:
    """After the reply to ``request``: run its tool calls if allowed, and say what to ask
    next (``request``'s messages plus this round's, so every earlier round is kept).

    The calls stay pending (not run; ``_tools.run_pending`` runs them) when ``more`` is
    False (the round limit is reached: running them would be a side effect whose result
    the model never sees) or when one names an offered raw spec with no Python function."""
    if not (prep.run_tools and result.tool_calls and result.ok):
        return result, None
    functions = prep.request.tool_functions
    offered = {
        t.get("function", {}).get("name")
        for t in prep.request.body.get("tools") or ()
        if isinstance(t, Mapping)
    }
    if any(c.name not in functions and c.name in offered for c in result.tool_calls):
        return result, None
    if not more:
        warnings.warn(
            f"Stopped after {prep.max_tool_rounds} tool rounds (max_tool_rounds); the last tool "
            "calls "
            "were not run: they are in result.tool_calls (deepseek_magic._tools.run_pending runs "
            "them).",
            stacklevel=2,
        )
        return result, None
    ran = tuple(run_tool_call(c, functions) for c in result.tool_calls)
    result = result.replace(tool_calls=ran)
    body = dict(request.body)
    body["messages"] = (
        list(body["messages"])
        + [assistant_message(result, prep.settings.provider, in_tool_turn=True)]
        + _tool_messages(ran)
    )
    return result, dataclasses.replace(request, body=body)


def _combine(rounds: list[Result], prep: Prepared) -> Result:
    last = rounds[-1]
    if len(rounds) > 1:
        last = last.replace(
            rounds=tuple(rounds[:-1]),
            elapsed=sum(r.elapsed for r in rounds),
            cost=_sum_cost(rounds),
        )
    if prep.conversation is not None:
        last = last.replace(conversation=prep.conversation.name)
    return last


def _sum_cost(rounds: list[Result]) -> float | None:
    costs = [r.cost for r in rounds if r.cost is not None]
    return sum(costs) if costs else None


def _finish(prep: Prepared, rounds: list[Result], session: Session) -> Result:
    result = _combine(rounds, prep)
    if prep.conversation is not None and result.ok:
        conv = prep.conversation
        conv.messages.extend(prep.new_messages)
        for r in rounds[:-1]:
            conv.messages.append(assistant_message(r, prep.settings.provider, in_tool_turn=True))
            conv.messages.extend(_tool_messages(r.tool_calls))
        # The final answer of a tool turn keeps its reasoning too (DeepSeek: "in all
        # subsequent user turns", wire-format.md section 11)
        conv.messages.append(
            assistant_message(result, prep.settings.provider, in_tool_turn=len(rounds) > 1)
        )
        conv.results.append(result)
    session.record(result)
    return result


def _intercept(
    session: Session, request: Request, prep: Prepared | None = None, rounds: Sequence[Result] = ()
) -> Result | None:
    try:
        for feature in list(session.features):
            found = feature.before_request(request)
            if found is not None:
                return found
    except DeepSeekError as exc:
        # A refusal between tool rounds (the budget) keeps the rounds already done.
        if prep is not None and rounds and exc.partial is None:
            exc.partial = _finish(prep, list(rounds), session)
        raise
    return None


class _Rounds:
    """What the sync and async loops share: one request per round, the hooks around it,
    the tool rounds, and keeping whatever arrived when a round fails or is interrupted.
    The loops differ only in how they read a stream."""

    def __init__(self, prep: Prepared, session: Session) -> None:
        self.prep = prep
        self.session = session
        self.rounds: list[Result] = []
        self.request: Request | None = prep.request
        self.n = 0

    def __iter__(self) -> Iterator[Request]:
        extra = self.prep.schema.extra_rounds if self.prep.schema is not None else 0
        for n in range(self.prep.max_tool_rounds + 1 + extra):
            if self.request is None:
                return
            self.n = n  # the round being sent (the last one runs no more tools)
            yield self.request

    def cached(self, request: Request) -> Result | None:
        """A hook's answer (the replay cache), or None to send; a hook may refuse (raise)."""
        return _intercept(self.session, request, self.prep, self.rounds)

    def failed(self, exc: DeepSeekError, partial: Result) -> None:
        partial = exc.partial or partial
        exc.partial = _finish(
            self.prep,
            self.rounds + [partial.replace(error=partial.error or str(exc))],
            self.session,
        )

    def interrupted(self, exc: BaseException, partial: Result) -> None:
        # The partial Result rides on the interrupt so the caller can show it.
        exc.partial = _finish(  # type: ignore[attr-defined]
            self.prep,
            self.rounds + [partial.replace(interrupted=True)],
            self.session,
        )

    def received(self, request: Request, result: Result) -> None:
        """A reply arrived from the network: tell the features, then run the tools (if
        allowed) and decide whether another round goes out."""
        for feature in list(self.session.features):
            feature.after_reply(request, result)
        self.done(request, result)

    def done(self, request: Request, result: Result) -> None:
        try:
            result, self.request = _next_round(
                self.prep, result, request, more=self.n < self.prep.max_tool_rounds
            )
        except KeyboardInterrupt as exc:
            # Ctrl-C while a tool runs: the reply that asked for it is kept all the same.
            self.interrupted(exc, result)
            raise
        if self.request is None and self.prep.schema is not None:  # typed answers' rounds
            result, self.request = self.prep.schema.after_round(result, request, self.rounds)
        self.rounds.append(result)

    def finish(self) -> Result:
        return _finish(self.prep, self.rounds, self.session)


def run_prepared(
    prep: Prepared,
    *,
    session: Session,
    client: Client | None = None,
    on_event: EventHook | None = None,
    on_stream: Callable[[ChatStream], None] | None = None,
) -> Result:
    """Send a prepared request (and its tool rounds); the partial Result is recorded on failure."""
    client = client or session.client()
    loop = _Rounds(prep, session)
    for request in loop:
        cached = loop.cached(request)
        if cached is not None:
            loop.done(request, cached)
            continue
        stream = client.stream(
            request,
            keep_chunks=prep.keep_chunks,
            offline=prep.settings.offline,
            max_reply_chars=prep.max_reply_chars,
        )
        if on_stream is not None:
            on_stream(stream)
        try:
            for event in stream:
                if on_event is not None:
                    on_event(event, stream)
        except DeepSeekError as exc:
            _explain_not_served(exc, prep, session, getattr(client, "http", None))
            loop.failed(exc, stream.result)
            raise
        except KeyboardInterrupt as exc:
            loop.interrupted(exc, stream.result)
            raise
        loop.received(request, stream.result)
    return loop.finish()


def _explain_not_served(
    exc: DeepSeekError, prep: Prepared, session: Session, http: Any = None
) -> None:
    """A server that refuses the model name: say so in one line, with the closest model it
    serves (its live catalogue, read with the same client when possible, else the snapshot)."""
    from .client._catalogue import changed_hint, is_not_served, load_catalogue, not_served_message

    changed = changed_hint(getattr(exc, "status", None), exc.message)
    if changed:  # the server moved since its catalogue was read: say what changed
        exc.hint = changed
        return
    if not is_not_served(getattr(exc, "status", None), exc.message):
        return
    settings = prep.settings
    catalogue = known_catalogue(session, settings)
    if http is not None:
        catalogue = load_catalogue(session, settings, http=http)[0]
    exc.message = not_served_message(settings.model, settings.provider, catalogue)
    exc.hint = ""
    exc.args = (exc.message,)


def ask(
    prompt: str | Sequence[Mapping[str, Any]],
    *,
    session: Session | None = None,
    client: Client | None = None,
    on_event: EventHook | None = None,
    **options: Any,
) -> Result:
    """Ask DeepSeek R1 and return its :class:`Result` (what ``%%deepseek`` does, without display).

    ``prompt`` is a string or a list of chat messages. Request options are keywords named
    as in the API: ``temperature=0.6``, ``top_p=0.95``, ``stop=["###"]``,
    ``max_completion_tokens=2048``, ``reasoning={"effort": "high"}`` (or
    ``reasoning_effort="high"``), ``tools=[f, g]``, ``tool_choice="auto"``. Every value is
    checked before anything is sent (:class:`OptionError`). ``stream=False`` asks for one
    non-streamed reply. ``conversation="name"`` continues a named chat. ``run_tools=True``
    lets the model's tool calls run and loops up to ``max_tool_rounds`` rounds.
    ``timeout`` is the seconds of silence tolerated; ``first_token_timeout`` the seconds
    to wait for the first token while only keep-alives arrive; ``max_reply_chars`` cuts
    off a runaway reply. ``thinking=False`` turns thinking off where the provider can.
    An option the provider ignores or cannot take is reported in ``Result.options_ignored``
    / ``options_not_sent``; ``strict=True`` refuses such a request before sending it.

    On failure the raised :class:`DeepSeekError` carries what arrived as ``.partial``, and
    the partial Result is in the session history too.
    """
    session = session or SESSION
    call, request_options = split_keywords(options)
    start(session)
    prep = prepare(prompt, session=session, call=call, options=request_options)
    return run_prepared(prep, session=session, client=client, on_event=on_event)


async def arun_prepared(
    prep: Prepared,
    *,
    session: Session,
    client: AsyncClient | None = None,
    on_event: EventHook | None = None,
    on_stream: Callable[[AsyncChatStream], None] | None = None,
) -> Result:
    """The awaitable twin of :func:`run_prepared`."""
    import asyncio

    from .client._http import AsyncClient

    own = client is None
    client = client or AsyncClient(verify=session.verify_tls)
    loop = _Rounds(prep, session)
    try:
        for request in loop:
            cached = loop.cached(request)
            if cached is not None:
                loop.done(request, cached)
                continue
            stream = client.stream(
                request,
                keep_chunks=prep.keep_chunks,
                offline=prep.settings.offline,
                max_reply_chars=prep.max_reply_chars,
            )
            if on_stream is not None:
                on_stream(stream)
            try:
                async for event in stream:
                    if on_event is not None:
                        on_event(event, stream)
            except DeepSeekError as exc:
                _explain_not_served(exc, prep, session)
                loop.failed(exc, stream.result)
                raise
            except (KeyboardInterrupt, asyncio.CancelledError) as exc:
                loop.interrupted(exc, stream.result)
                raise
            loop.received(request, stream.result)
    finally:
        if own:
            await client.aclose()
    return loop.finish()


async def aask(
    prompt: str | Sequence[Mapping[str, Any]],
    *,
    session: Session | None = None,
    client: AsyncClient | None = None,
    **options: Any,
) -> Result:
    """The awaitable twin of :func:`ask`: ``await asyncio.gather(aask(a), aask(b))`` runs
    requests concurrently."""
    session = session or SESSION
    call, request_options = split_keywords(options)
    start(session)
    prep = prepare(prompt, session=session, call=call, options=request_options)
    return await arun_prepared(prep, session=session, client=client)
