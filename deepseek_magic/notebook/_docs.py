"""The README's generated sections: the options table, the magics, the call settings
(flags, keywords, ``%config``, environment, panel) and the provider table.

``python -m deepseek_magic.notebook._docs README.md`` rewrites the text between the
``<!-- NAME:start -->`` / ``<!-- NAME:end -->`` markers; ``tests/test_docs.py`` fails when
the README and the code disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ..core._options import OPTION_BY_NAME, OPTIONS
from ..core._providers import PROVIDERS, SHORT_NAME, Provider

__all__ = ["sections", "render_readme", "options_markdown", "providers_markdown"]


def sections() -> dict[str, str]:
    from ..core._call import settings_markdown
    from ._magic import magics_markdown

    return {
        "options": options_markdown(),
        "magics": magics_markdown(),
        "settings": settings_markdown(),
        "providers": providers_markdown(),
    }


def render_readme(text: str) -> str:
    """``text`` with every generated section replaced by its current content."""
    for name, body in sections().items():
        pattern = re.compile(rf"(<!-- {name}:start -->\n)(?:.*?\n)?(<!-- {name}:end -->)", re.S)
        match = pattern.search(text)
        if match is None:
            raise ValueError(f"README has no <!-- {name}:start --> ... <!-- {name}:end --> markers")
        text = (
            text[: match.start()]
            + match.group(1)
            + body
            + "\n"
            + match.group(2)
            + text[match.end() :]
        )
    return text


def options_markdown() -> str:
    """The README's options table, generated from :data:`OPTIONS` and the provider table."""
    rows = [
        "| flag | `ask()` keyword | JSON field (OpenRouter) | elsewhere | allowed | meaning |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for o in OPTIONS:
        name = o.alias_of or o.name
        field_name = ".".join(o.path) if o.path else o.name
        field_name = f"sent as `{o.alias_of}`" if o.alias_of else f"`{field_name}`"
        if name == "thinking":
            field_name = "`reasoning.enabled` / `reasoning.effort: none`"
        spelled: dict[str, list[str]] = {}
        for p in PROVIDERS.values():
            if name in p.not_sendable or (name == "thinking" and not p.thinking):
                key = "not sendable"
            elif name == "thinking":
                key = "per provider (see the provider table)"
            else:
                path = p.spell.get(name) or (OPTION_BY_NAME[name].path or (name,))
                key = "`" + ".".join(path) + "`"
            spelled.setdefault(key, []).append(p.name)
        spelled.pop("`" + ".".join(OPTION_BY_NAME[name].path or (name,)) + "`", None)
        elsewhere = "; ".join(f"{k}: {', '.join(v)}" for k, v in spelled.items())
        rows.append(
            f"| `{o.flag}` | `{o.name}` | {field_name} | {elsewhere or '–'} "
            f"| {o.range_text()} | {o.help} |"
        )
    return "\n".join(rows)


def providers_markdown() -> str:
    """The README's provider table, generated from :data:`PROVIDERS`."""
    rows = [
        "| `--provider` | base URL | `deepseek-r1` means | key | max tokens sent as "
        "| reasoning effort "
        "sent as | `--thinking on/off` sent as | not sendable | ignored | notes "
        "| source | checked on |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    import json

    paths = {o.name: o.path or (o.name,) for o in OPTIONS}
    for p in PROVIDERS.values():
        short = p.resolve_model(SHORT_NAME)
        means = (
            f"`{short}`" + (" (thinking on)" if p.alias_options.get("thinking") else "")
            if short != SHORT_NAME
            else "passed through"
        )
        key = (
            f"`{p.key_env}`"
            if p.key_env
            else ("none needed" if not p.needs_key else "`DEEPSEEK_MAGIC_API_KEY`")
        )

        def wire(name: str, p: Provider = p) -> str:
            if name in p.not_sendable:
                return "not sendable"
            return "`" + ".".join(p.spell.get(name) or paths[name]) + "`"

        thinking = (
            " / ".join(
                f"`{json.dumps(p.thinking[v], separators=(',', ':'))}`" for v in (True, False)
            )
            if p.thinking
            else "not sendable"
        )
        effort = wire("reasoning_effort")
        if p.effort_map:
            effort += " (" + ", ".join(f"{a}→{b}" for a, b in p.effort_map.items()) + ")"
        ignored = [f"{n} ({w})" for n, w in p.ignored.items()]
        ignored += [f"{n} (in thinking mode)" for n in p.ignored_thinking]
        rows.append(
            " | ".join(
                [
                    f"| `{p.name}`",
                    f"`{p.base_url}`" if p.base_url else "any URL",
                    means,
                    key,
                    wire("max_completion_tokens"),
                    effort,
                    thinking,
                    ", ".join(p.not_sendable) or "–",
                    ", ".join(ignored) or "–",
                    p.note or "–",
                    p.source or "–",
                    p.checked or "–",
                ]
            )
            + " |"
        )
    facts = [
        f"- `{p.name}` `{fact}`: {where}"
        for p in PROVIDERS.values()
        for fact, where in p.fact_sources.items()
    ]
    if facts:
        rows += ["", "Facts with a source of their own:", "", *facts]
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(render_readme(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"updated {path}")
