"""The model catalogue: what the configured server serves, at what price and context.

``GET {base_url}/models`` is read once per session and base URL (:func:`load_catalogue`,
``deepseek_magic.models()``, ``%deepseek_models``) and cached. OpenRouter's answer gives
pricing, ``context_length``, ``supported_parameters``, the ``reasoning`` object
(``mandatory``, ``supported_efforts``, ``default_effort``, ``supports_max_tokens``),
``expiration_date`` and ``top_provider.max_completion_tokens``; DeepSeek's gives ids,
``context_window``, ``max_output_tokens`` and ``effort.supported_levels`` (no prices: those
come from its pricing page, in the snapshot, peak and off-peak); a local server gives its
loaded models, and llama-server its per-slot context in ``GET /props``
(``Provider.context_endpoint``). With no network a dated snapshot shipped with the package
(``data/models-snapshot.json``, rebuilt by ``python -m deepseek_magic.catalogue
snapshot``) answers with the same fields, and says its date.

What the catalogue feeds: the short name's resolution (``Provider.reasoning_models``),
the context guard and the cost estimate (the model's own context length and prices;
the seed's figures only as the last fallback), the "not served" error, the per-model
request rules (:meth:`ModelInfo.rules`, live or snapshot) and, from a live catalogue
only, which parameters the model supports.
"""

from __future__ import annotations

import difflib
import json
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..core._call import pick
from ..core._errors import DeepSeekError
from ..core._providers import SHORT_NAME, ModelRules

if TYPE_CHECKING:
    from ..core._providers import Provider
    from ..core._session import Session
    from ..core._settings import Settings

__all__ = [
    "SNAPSHOT_PATH",
    "Catalogue",
    "ModelInfo",
    "Price",
    "cached_catalogue",
    "load_catalogue",
    "models",
    "not_served_message",
    "price_for",
    "snapshot_catalogue",
]

SNAPSHOT_PATH = Path(__file__).parent.parent / "data" / "models-snapshot.json"
#: The seed's prices for DeepSeek R1 (US dollars per million tokens): the last fallback.
SEED_PRICE_IN_PER_M = 0.70
SEED_PRICE_OUT_PER_M = 2.50
#: The seed's context length (DeepSeek R1's 64K): the last fallback.
SEED_CONTEXT_TOKENS = 65_536


@dataclass(frozen=True)
class ModelInfo:
    """One model as a catalogue lists it (None where the server says nothing)."""

    id: str
    name: str = ""
    context_length: int | None = None
    #: US dollars per token
    prompt_price: float | None = None
    completion_price: float | None = None
    cache_read_price: float | None = None
    #: the request fields the model accepts (OpenRouter publishes them); None = unknown
    supported_parameters: frozenset[str] | None = None
    #: reasoning cannot be switched off (OpenRouter ``reasoning.mandatory``)
    reasoning_mandatory: bool | None = None
    #: the efforts the model takes (OpenRouter ``reasoning.supported_efforts``, DeepSeek
    #: ``effort.supported_levels``)
    supported_efforts: tuple[str, ...] | None = None
    default_effort: str | None = None
    #: False: no reasoning token budget (OpenRouter ``reasoning.supports_max_tokens``)
    supports_max_tokens: bool | None = None
    #: the model may be removed after this date (OpenRouter ``expiration_date``)
    expiration_date: str | None = None
    #: the most tokens one reply may have (``top_provider.max_completion_tokens``,
    #: DeepSeek ``max_output_tokens``)
    max_completion_tokens: int | None = None
    #: US dollars per token off-peak (DeepSeek's pricing page; the snapshot only)
    off_peak: tuple[float, float, float | None] | None = None

    def rules(self, source: str) -> ModelRules:
        """What decides a request to this model (see ``_providers.plan_options``)."""
        return ModelRules(
            self.id,
            source,
            bool(self.reasoning_mandatory),
            self.supported_efforts,
            self.supports_max_tokens,
            self.max_completion_tokens,
            self.expiration_date,
        )

    @classmethod
    def from_wire(cls, entry: Mapping[str, Any]) -> ModelInfo | None:
        ident = entry.get("id")
        if not isinstance(ident, str) or not ident:
            return None
        raw = entry.get("pricing")
        pricing: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        params = entry.get("supported_parameters")
        reasoning = _mapping(entry.get("reasoning"))
        effort = _mapping(entry.get("effort"))
        efforts = reasoning.get("supported_efforts", effort.get("supported_levels"))
        top = _mapping(entry.get("top_provider"))
        most = top.get("max_completion_tokens") or entry.get("max_output_tokens")
        off = _mapping(pricing.get("off_peak"))
        off_prices = (_price(off.get("prompt")), _price(off.get("completion")))
        meta = entry.get("meta")
        context = (
            entry.get("context_length")
            or entry.get("max_model_len")
            or entry.get("context_window")
            # llama-server: one slot's share of --ctx-size, the most a request can use
            or (meta.get("n_ctx") if isinstance(meta, Mapping) else None)
        )
        return cls(
            id=ident,
            name=str(entry.get("name") or ""),
            context_length=int(context)
            if isinstance(context, (int, float)) and context > 0
            else None,
            prompt_price=_price(pricing.get("prompt")),
            completion_price=_price(pricing.get("completion")),
            cache_read_price=_price(pricing.get("input_cache_read")),
            supported_parameters=frozenset(str(p) for p in params)
            if isinstance(params, list)
            else None,
            reasoning_mandatory=reasoning["mandatory"]
            if isinstance(reasoning.get("mandatory"), bool)
            else None,
            supported_efforts=tuple(str(e) for e in efforts) if isinstance(efforts, list) else None,
            default_effort=str(reasoning.get("default_effort") or "") or None,
            supports_max_tokens=reasoning["supports_max_tokens"]
            if isinstance(reasoning.get("supports_max_tokens"), bool)
            else None,
            expiration_date=str(entry.get("expiration_date") or "") or None,
            max_completion_tokens=int(most) if isinstance(most, int) and most > 0 else None,
            off_peak=(off_prices[0], off_prices[1], _price(off.get("input_cache_read")))
            if off_prices[0] is not None and off_prices[1] is not None
            else None,
        )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _price(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number >= 0 else None


@dataclass(frozen=True)
class Catalogue:
    """The models one server lists."""

    base_url: str
    models: tuple[ModelInfo, ...]
    source: Literal["live", "snapshot"]
    #: the snapshot's date, or when the live list was read (UTC, ISO)
    date: str
    note: str = ""
    _by_id: Mapping[str, ModelInfo] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {m.id: m for m in self.models})

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.models)

    def get(self, model: str) -> ModelInfo | None:
        return self._by_id.get(model)

    def rules(self, model: str) -> ModelRules | None:
        """The catalogue's request rules for ``model`` (None when it does not list it)."""
        info = self.get(model)
        if info is None:
            return None
        return info.rules("live catalogue" if self.source == "live" else f"snapshot {self.date}")

    def closest(self, model: str) -> str | None:
        found = difflib.get_close_matches(model, self.ids, n=1, cutoff=0.3)
        return found[0] if found else (self.ids[0] if self.ids else None)

    def describe(self) -> str:
        if self.source == "snapshot":
            return f"snapshot of {self.date} shipped with deepseek-magic (not live)" + (
                f"; {self.note}" if self.note else ""
            )
        return (
            f"live from {self.base_url}/models (read once this session; refresh=True reads again)"
        )

    def to_records(self, contains: str | None = None) -> list[dict[str, Any]]:
        needle = (contains or "").lower()
        rows = []
        for m in self.models:
            if needle and needle not in m.id.lower() and needle not in m.name.lower():
                continue
            rows.append(
                {
                    "id": m.id,
                    "name": m.name,
                    "context_length": m.context_length,
                    "prompt_usd_per_m": None
                    if m.prompt_price is None
                    else round(m.prompt_price * 1e6, 6),
                    "completion_usd_per_m": None
                    if m.completion_price is None
                    else round(m.completion_price * 1e6, 6),
                    "supported_parameters": ", ".join(sorted(m.supported_parameters))
                    if m.supported_parameters is not None
                    else None,
                    "reasoning_mandatory": m.reasoning_mandatory,
                    "supported_efforts": ", ".join(m.supported_efforts)
                    if m.supported_efforts is not None
                    else None,
                    "max_completion_tokens": m.max_completion_tokens,
                    "expires": m.expiration_date,
                    "source": self.source if self.source == "live" else f"snapshot {self.date}",
                }
            )
        return rows


def parse_models(
    base_url: str, data: Any, *, source: Literal["live", "snapshot"], date: str, note: str = ""
) -> Catalogue:
    items = data.get("data") if isinstance(data, Mapping) else data
    models = tuple(
        m
        for m in (ModelInfo.from_wire(e) for e in items or () if isinstance(e, Mapping))
        if m is not None
    )
    return Catalogue(base_url, models, source, date, note)


@lru_cache(maxsize=1)
def _snapshot_data() -> Mapping[str, Any]:
    return json.loads(SNAPSHOT_PATH.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def snapshot_catalogue(provider: Provider, base_url: str = "") -> Catalogue | None:
    """The shipped snapshot for ``provider`` (None when it has none: local servers)."""
    data = _snapshot_data()
    entry = data["providers"].get(provider.name)
    if entry is None:
        return None
    return parse_models(
        base_url or provider.base_url,
        entry,
        source="snapshot",
        date=data["date"],
        note=str(entry.get("pricing_note", "")),
    )


# ----------------------------------------------------------------------- session cache
def cached_catalogue(session: Session, base_url: str) -> Catalogue | None:
    """The live catalogue read earlier in this session for ``base_url``, if any (kept on
    the session, ``Session.catalogues``)."""
    found = session.catalogues.get(base_url.rstrip("/"))
    return found if isinstance(found, Catalogue) else None


def _remember(session: Session, catalogue: Catalogue) -> None:
    session.catalogues[catalogue.base_url.rstrip("/")] = catalogue  # one dict store: atomic


def fetch_catalogue(
    settings: Settings, http: Any = None, *, timeout: float = 15.0, verify: bool = True
) -> Catalogue:
    """``GET {base_url}/models`` -> a live Catalogue (raises DeepSeekError on failure)."""
    import httpx

    from ._http import provider_headers

    headers = provider_headers(settings)
    url = settings.base_url.rstrip("/") + "/models"
    try:
        if http is not None:
            response = http.get(url, headers=headers, timeout=timeout)
        else:
            with httpx.Client(follow_redirects=False, verify=verify) as client:
                response = client.get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        detail = str(exc).split("\n")[0][:120] or type(exc).__name__
        if settings.api_key:
            detail = detail.replace(settings.api_key, "***")
        raise DeepSeekError(f"could not reach {url}: {detail}") from None
    if response.status_code != 200:
        raise DeepSeekError(f"{url} answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise DeepSeekError(f"{url} did not answer JSON") from None
    catalogue = parse_models(
        settings.base_url.rstrip("/"),
        data,
        source="live",
        date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    )
    endpoint = settings.provider.context_endpoint
    if endpoint:
        context = _served_context(settings.base_url, endpoint, headers, http, timeout, verify)
        if context:
            models = tuple(replace(m, context_length=context) for m in catalogue.models)
            catalogue = replace(catalogue, models=models)
    return catalogue


def get_json(url: str, headers: Mapping[str, str], http: Any = None, timeout: float = 30.0) -> Any:
    """``GET url`` -> its JSON (raises DeepSeekError, one line, on any failure); for the
    snapshot's maintainer command (``deepseek_magic.catalogue``)."""
    import httpx

    try:
        if http is not None:
            response = http.get(url, headers=dict(headers), timeout=timeout)
        else:
            with httpx.Client(follow_redirects=False) as client:
                response = client.get(url, headers=dict(headers), timeout=timeout)
    except httpx.HTTPError as exc:
        raise DeepSeekError(f"could not reach {url}: {type(exc).__name__}") from None
    if response.status_code != 200:
        raise DeepSeekError(f"{url} answered HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise DeepSeekError(f"{url} did not answer JSON") from None


def server_root(base_url: str) -> str:
    """``base_url`` without its ``/v1`` (where llama-server serves ``/props``)."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def _served_context(
    base_url: str, endpoint: str, headers: Any, http: Any, timeout: float, verify: bool
) -> int | None:
    """The per-slot context llama-server reports (``GET /props`` ->
    ``default_generation_settings.n_ctx``), or None when it says nothing."""
    import httpx

    url = server_root(base_url) + endpoint
    try:
        if http is not None:
            response = http.get(url, headers=headers, timeout=timeout)
        else:
            with httpx.Client(follow_redirects=False, verify=verify) as client:
                response = client.get(url, headers=headers, timeout=timeout)
        data = response.json() if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return None
    n_ctx = _mapping(_mapping(data).get("default_generation_settings")).get("n_ctx")
    return n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None


def load_catalogue(
    session: Session,
    settings: Settings,
    *,
    refresh: bool = False,
    http: Any = None,
    snapshot_only: bool = False,
) -> tuple[Catalogue, str | None]:
    """The catalogue for ``settings``: the cached live one, else a fresh read (cached),
    else the snapshot. Returns it and, when the live read failed, why (one line)."""
    if not snapshot_only:
        found = None if refresh else cached_catalogue(session, settings.base_url)
        if found is not None:
            return found, None
        try:
            found = fetch_catalogue(settings, http, verify=session.verify_tls)
        except DeepSeekError as exc:
            problem = str(exc)
        else:
            _remember(session, found)
            return found, None
    else:
        problem = "snapshot asked for"
    snap = snapshot_catalogue(settings.provider, settings.base_url)
    if snap is None:
        snap = Catalogue(
            settings.base_url,
            (),
            "snapshot",
            _snapshot_data()["date"],
            f"no snapshot for {settings.provider.title}",
        )
    return snap, problem


def known_catalogue(session: Session | None, settings: Settings) -> Catalogue | None:
    """What is known without asking the network: the cached live list, else the snapshot."""
    if session is not None:
        found = cached_catalogue(session, settings.base_url)
        if found is not None:
            return found
    return snapshot_catalogue(settings.provider, settings.base_url)


def model_rules(session: Session | None, settings: Settings) -> ModelRules | None:
    """What the known catalogue (live, else the snapshot) says of ``settings.model``."""
    catalogue = known_catalogue(session, settings)
    return catalogue.rules(settings.model) if catalogue is not None else None


# ----------------------------------------------------------------------- prices
@dataclass(frozen=True)
class Price:
    """Dollars per token for one model, and where the figures come from."""

    prompt: float
    completion: float
    #: "catalogue" (live), "snapshot", "seed" (the last fallback), "user", "free" (a local server)
    source: str
    cache_read: float | None = None
    #: which of a provider's time-of-day prices this is ("peak price", "off-peak price")
    note: str = ""

    def saved(self, cached_tokens: int) -> float | None:
        """Dollars the cache saved on ``cached_tokens`` prompt tokens (None: no cache price)."""
        if self.cache_read is None or not cached_tokens:
            return None
        return cached_tokens * max(0.0, self.prompt - self.cache_read)

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        cached = min(cached_tokens, prompt_tokens) if self.cache_read is not None else 0
        return (
            (prompt_tokens - cached) * self.prompt
            + cached * (self.cache_read or 0.0)
            + completion_tokens * self.completion
        )


SEED_PRICE = Price(SEED_PRICE_IN_PER_M / 1e6, SEED_PRICE_OUT_PER_M / 1e6, "seed")
FREE = Price(0.0, 0.0, "free")


def user_price(config: Mapping[str, Any]) -> Price | None:
    """The price the user set with ``%deepseek_spend --price IN,OUT`` (dollars per million)."""
    value = pick("price", None, config)[0]  # a setting of the table, checked there
    if value is None:
        return None
    prompt, completion = value
    return Price(float(prompt) / 1e6, float(completion) / 1e6, "user")


def is_peak(provider: Provider, when: datetime) -> bool:
    """Whether ``when`` falls in ``provider``'s peak-price hours (Monday to Friday, UTC)."""
    when = when.astimezone(timezone.utc) if when.tzinfo else when
    return when.weekday() < 5 and any(a <= when.hour < b for a, b in provider.peak_hours_utc)


def now_utc() -> datetime:
    """The time a request is priced at (a function, so a test can set the clock)."""
    return datetime.now(timezone.utc)


def price_for(
    model: str,
    provider: Provider,
    catalogue: Catalogue | None,
    config: Mapping[str, Any] | None = None,
    *,
    when: datetime | None = None,
) -> Price:
    """What ``model`` costs per token: the user's price, else nothing for a local server,
    else the catalogue's (live or snapshot), else the seed's R1 figures. Where the provider
    has time-of-day prices (``Provider.peak_hours_utc``) and the catalogue lists the
    off-peak ones, ``when`` (the request's time, default now) picks which."""
    own = user_price(config or {})
    if own is not None:
        return own
    if provider.free:
        return FREE
    info = catalogue.get(model) if catalogue is not None else None
    if info is not None and info.prompt_price is not None and info.completion_price is not None:
        source = "catalogue" if catalogue is not None and catalogue.source == "live" else "snapshot"
        if info.off_peak is not None and provider.peak_hours_utc:
            if not is_peak(provider, when or now_utc()):
                prompt, completion, cache_read = info.off_peak
                return Price(prompt, completion, source, cache_read, "off-peak price")
            return Price(
                info.prompt_price,
                info.completion_price,
                source,
                info.cache_read_price,
                "peak price",
            )
        return Price(info.prompt_price, info.completion_price, source, info.cache_read_price)
    return SEED_PRICE


def context_for(model: str, catalogue: Catalogue | None) -> tuple[int, str]:
    """The model's context length and where it comes from (catalogue, else the seed's)."""
    info = catalogue.get(model) if catalogue is not None else None
    if info is not None and info.context_length:
        return info.context_length, catalogue.source if catalogue is not None else "seed"
    return SEED_CONTEXT_TOKENS, "seed"


# ----------------------------------------------------------------------- not served
def not_served_message(model: str, provider: Provider, catalogue: Catalogue | None) -> str:
    """One line: the name, that the server does not serve it, the closest it does."""
    retired = provider.retired.get(model)
    why = f" (retired on {retired})" if retired else ""
    closest = ""
    if catalogue is not None and catalogue.ids:
        near = catalogue.closest(model)
        if retired and provider.reasoning_models:
            near = provider.resolve_model(SHORT_NAME, catalogue.ids)
        closest = f"; closest it serves: {near}"
    return (
        f"Model {model!r} is not served by {provider.title}{why}{closest}. "
        "%deepseek_models lists what it serves."
    )


def check_model(model: str, provider: Provider, catalogue: Catalogue | None) -> None:
    """Refuse (ConfigError, nothing sent) a retired name, or one a live catalogue lacks."""
    from ..core._errors import ConfigError

    live_missing = (
        catalogue is not None
        and catalogue.source == "live"
        and catalogue.ids
        and model not in catalogue.ids
    )
    if model in provider.retired or live_missing:
        raise ConfigError(not_served_message(model, provider, catalogue))


_NOT_SERVED_WORDS = (
    "model not exist",
    "model_not_found",
    "does not exist",
    "not a valid model",
    "no endpoints found",
    "model not found",
    "unknown model",
    "invalid model",
)


#: what a server's refusal means when the world moved since the catalogue was read (the
#: words of wire-format.md section 11's error texts -> what changed, and what to do)
_CHANGED = (
    (
        "reasoning is mandatory",
        "The server now says reasoning is mandatory for this model, so thinking off and "
        "effort none cannot be sent; %deepseek_models --refresh reads its catalogue again.",
    ),
    (
        "reasoning_content in the thinking mode must be passed back",
        "The server wants every reasoning of a tool turn sent back; start a new "
        "conversation, or send with --thinking off.",
    ),
)


def changed_hint(status: int | None, message: str) -> str | None:
    """The one-line hint naming what changed, for a 400 that today's catalogue did not
    foresee (None for any other error)."""
    text = message.lower()
    if status != 400:
        return None
    return next((hint for words, hint in _CHANGED if words in text), None)


def is_not_served(status: int | None, message: str) -> bool:
    """Whether an error reply says the model is not served."""
    text = message.lower()
    return status in (400, 404, 422) and any(w in text for w in _NOT_SERVED_WORDS)


# ----------------------------------------------------------------------- models()
def models(
    contains: str | None = None,
    *,
    refresh: bool = False,
    snapshot: bool = False,
    base_url: str | None = None,
    provider: str | None = None,
    api_key: str | None = None,
    session: Session | None = None,
) -> Any:
    """What the configured provider serves, as a pandas DataFrame (a list of dicts without
    pandas): id, name, context length, prices in dollars per million tokens, supported
    parameters, source. ``models("deepseek")`` keeps ids or names containing the text.

    Read once per session from ``GET {base_url}/models`` and cached (``refresh=True``
    reads again); when the server cannot be reached, or with ``snapshot=True``, the dated
    snapshot shipped with the package answers. ``.attrs["source"]`` says which.
    """
    from ..core._session import SESSION
    from ..core._settings import resolve_settings

    session = session or SESSION
    offline = session.offline
    if offline is not None and base_url is None and provider is None:
        base_url = offline.base_url
        from ..core._providers import provider_for_dialect

        provider = provider_for_dialect(offline.dialect).name
    settings = resolve_settings(
        base_url=base_url,
        provider=provider,
        api_key=api_key,
        config=session.config,
        require_key=False,
    )
    catalogue, problem = load_catalogue(session, settings, refresh=refresh, snapshot_only=snapshot)
    source = catalogue.describe() + (f" ({problem})" if problem and not snapshot else "")
    rows = catalogue.to_records(contains)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is in the data extra
        return rows
    frame = pd.DataFrame(
        rows,
        columns=[
            "id",
            "name",
            "context_length",
            "prompt_usd_per_m",
            "completion_usd_per_m",
            "supported_parameters",
            "reasoning_mandatory",
            "supported_efforts",
            "max_completion_tokens",
            "expires",
            "source",
        ],
    )
    frame.attrs["source"] = source
    return frame
