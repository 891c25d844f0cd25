"""``ask()`` and ``aask()``: what the magic does, as plain Python, without display.

Both share :func:`prepare` (validate options, resolve settings, build the request: no
network before this succeeds); sending it (features, retries, tool and extra rounds,
the partial on failure) is the engine's (:mod:`.engine._dispatch`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..client._catalogue import Catalogue, check_model, known_catalogue, now_utc, price_for
from ..client._request import Request, build_request, normalize_messages
from ..core._call import SETTING_BY_NAME, Call, pick, split_keywords
from ..core._errors import ConfigError, OptionError
from ..core._options import validate_options
from ..core._providers import provider_for_dialect
from ..core._result import Result
from ..core._session import SESSION, Conversation, Session
from ..core._settings import Settings, resolve_settings
from ..features import start
from ..features._schema_run import SchemaRun, plan_schema
from ._dispatch import EventHook
from ._rounds import ExtraRound, assistant_message
from ._stream import AsyncStream, Stream
from ._tools import prepare_tools

if TYPE_CHECKING:  # the client (and httpx with it) loads on the first request, not at %load_ext
    from ..client._http import AsyncClient, Client

__all__ = [
    "ask",
    "aask",
    "stream",
    "astream",
    "prepare",
    "Prepared",
    "assistant_message",
    "DEFAULT_MAX_TOOL_ROUNDS",
]

DEFAULT_MAX_TOOL_ROUNDS: int = SETTING_BY_NAME["max_tool_rounds"].default


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
    #: typed answers (``schema=``): ``features._schema_run.SchemaRun`` (its ``hooks``)
    schema: SchemaRun | None = None
    #: hooks that may ask for one more round after a reply (see ``engine._rounds``)
    extra_rounds: tuple[ExtraRound, ...] = ()


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
    from ..client._fetch_transport import browser_refusal

    return browser_refusal(url)


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
    the partial Result is in the session history too; the kernel's interrupt raises
    :class:`Interrupted` (a ``KeyboardInterrupt``) with it. ``ask()`` is :func:`stream`
    run to its end (``on_event(event, stream)`` sees the client's events on the way).
    """
    return stream(prompt, session=session, client=client, **options).until_done(on_event)


async def aask(
    prompt: str | Sequence[Mapping[str, Any]],
    *,
    session: Session | None = None,
    client: AsyncClient | None = None,
    on_event: EventHook | None = None,
    **options: Any,
) -> Result:
    """The awaitable twin of :func:`ask`: ``await asyncio.gather(aask(a), aask(b))`` runs
    requests concurrently (on the session's one ``AsyncClient`` for the running loop)."""
    return await astream(prompt, session=session, client=client, **options).until_done(on_event)


def _prepare_call(
    prompt: str | Sequence[Mapping[str, Any]], session: Session | None, options: Mapping[str, Any]
) -> tuple[Session, Prepared]:
    """What ``stream`` and ``astream`` (hence ``ask`` and ``aask``) share: the session
    with its features on, and the checked request (raises before anything is sent)."""
    session = session or SESSION
    call, request_options = split_keywords(options)
    start(session)
    return session, prepare(prompt, session=session, call=call, options=request_options)


def stream(
    prompt: str | Sequence[Mapping[str, Any]],
    *,
    session: Session | None = None,
    client: Client | None = None,
    **options: Any,
) -> Stream:
    """A :class:`~deepseek_magic.Stream` of the reply: ``with stream("Why?") as s: for
    event in s: ...``, then ``s.result``. It sends when iterated (the options are checked
    now, before anything is sent: :class:`OptionError`); its events are those of
    :mod:`deepseek_magic.events`; ``.result`` is the Result so far at any time; it is
    closed in ``finally`` and keeps the partial Result when stopped or failed. Takes
    :func:`ask`'s keywords."""
    session, prep = _prepare_call(prompt, session, options)
    return Stream(prep, session=session, client=client)


def astream(
    prompt: str | Sequence[Mapping[str, Any]],
    *,
    session: Session | None = None,
    client: AsyncClient | None = None,
    **options: Any,
) -> AsyncStream:
    """The awaitable twin of :func:`stream`: ``async with astream("Why?") as s: async for
    event in s: ...``."""
    session, prep = _prepare_call(prompt, session, options)
    return AsyncStream(prep, session=session, client=client)
