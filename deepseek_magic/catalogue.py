"""The maintainer's command that rebuilds the shipped model snapshot from the live servers.

``python -m deepseek_magic.catalogue snapshot`` reads ``GET {base_url}/models`` of every
provider the snapshot has an entry for (``data/models-snapshot.json``), with the
provider's own key from its environment variable (``Provider.key_env``), keeps the fields
the catalogue reads (``client/_catalogue.py``: context, prices, supported parameters, the
``reasoning`` object, ``expiration_date``, ``top_provider``, ``effort``, output limit) for
the models the old snapshot's family covers, dates the file and each entry today, and
writes it. Prices a server does not publish (DeepSeek's come from its pricing page) are
carried over from the old snapshot, and the entry says so.

``--base-url NAME=URL`` points one provider elsewhere (the tests point it at the
emulator; nothing in the test suite reaches the network). ``--out PATH`` writes somewhere
other than the package's snapshot. The key is sent only to the provider's own host and
never printed; it goes only to the provider's own host (or a loopback test server).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .client._catalogue import SNAPSHOT_PATH, get_json
from .core._errors import DeepSeekError
from .core._providers import PROVIDERS, Provider, is_loopback

__all__ = ["KEPT_FIELDS", "main", "rebuild_snapshot"]

#: the fields of a ``/models`` entry the catalogue reads (the rest is left out)
KEPT_FIELDS = (
    "id",
    "name",
    "object",
    "owned_by",
    "context_length",
    "context_window",
    "max_output_tokens",
    "pricing",
    "supported_parameters",
    "reasoning",
    "expiration_date",
    "top_provider",
    "effort",
)


def _family(entry: Mapping[str, Any]) -> tuple[str, ...]:
    """The id prefixes (``author/``) the old snapshot entry covers; () = every model."""
    prefixes = {
        str(m.get("id", "")).split("/", 1)[0] + "/"
        for m in entry.get("data", ())
        if "/" in str(m.get("id", ""))
    }
    return tuple(sorted(prefixes))


def _fetch(provider: Provider, base_url: str, env: Mapping[str, str], http: Any) -> Any:
    headers = {"Accept": "application/json", **dict(provider.headers)}
    key = env.get(provider.key_env) if provider.key_env else None
    if key and (provider.owns(base_url) or is_loopback(base_url)):  # never to a third host
        headers["Authorization"] = f"Bearer {key}"
    return get_json(base_url.rstrip("/") + "/models", headers, http)


def rebuild_snapshot(
    old: Mapping[str, Any],
    *,
    base_urls: Mapping[str, str] | None = None,
    env: Mapping[str, str] | None = None,
    http: Any = None,
    today: str | None = None,
) -> dict[str, Any]:
    """The snapshot rebuilt from the live ``/models`` of each provider in ``old`` (``http``:
    an httpx-like client to use, default a new one per request)."""
    env = os.environ if env is None else env
    today = today or datetime.now(timezone.utc).strftime("%Y-%m-%d")
    providers: dict[str, Any] = {}
    for name, entry in old["providers"].items():
        provider = PROVIDERS[name]
        base_url = (base_urls or {}).get(name) or provider.base_url
        data = _fetch(provider, base_url, env, http)
        items = data.get("data") if isinstance(data, Mapping) else data
        family = _family(entry)
        old_prices = {m.get("id"): m.get("pricing") for m in entry.get("data", ())}
        models, carried = [], False
        for item in items or ():
            if not isinstance(item, Mapping) or not isinstance(item.get("id"), str):
                continue
            if family and not item["id"].startswith(family):
                continue
            kept = {k: item[k] for k in KEPT_FIELDS if k in item}
            if "pricing" not in kept and old_prices.get(item["id"]):
                kept["pricing"] = old_prices[item["id"]]  # the server publishes none
                carried = True
            models.append(kept)
        new: dict[str, Any] = {
            "source": f"GET {base_url.rstrip('/')}/models",
            "checked": today,
        }
        if carried:
            new["source"] += (
                f"; prices carried from the snapshot of {old.get('date')} (the server "
                "publishes none): check them against the provider's pricing page"
            )
        if entry.get("pricing_note"):
            new["pricing_note"] = entry["pricing_note"]
        new["data"] = models
        providers[name] = new
    return {"date": today, "about": old.get("about", ""), "providers": providers}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m deepseek_magic.catalogue",
        description="Rebuild the shipped model snapshot from the providers' live GET /models "
        "(keys from each provider's environment variable).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    snap = sub.add_parser("snapshot", help="rebuild data/models-snapshot.json")
    snap.add_argument("--out", type=Path, default=SNAPSHOT_PATH, help="where to write it")
    snap.add_argument(
        "--base-url",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="read this provider's catalogue from URL instead",
    )
    args = parser.parse_args(argv)
    urls = dict(item.split("=", 1) for item in args.base_url)
    unknown = sorted(set(urls) - set(PROVIDERS))
    if unknown:
        parser.error(f"unknown provider {', '.join(unknown)}; choose from {', '.join(PROVIDERS)}")
    old = json.loads(SNAPSHOT_PATH.read_text(encoding="utf-8"))
    try:
        new = rebuild_snapshot(old, base_urls=urls)
    except (DeepSeekError, KeyError) as exc:  # one line, never the key
        print(f"snapshot not rebuilt: {str(exc).splitlines()[0][:200]}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(new, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    counts = ", ".join(f"{n}: {len(e['data'])} models" for n, e in new["providers"].items())
    print(f"wrote {args.out} dated {new['date']} ({counts})")
    return 0


if __name__ == "__main__":  # pragma: no cover - the maintainer's command
    raise SystemExit(main())
