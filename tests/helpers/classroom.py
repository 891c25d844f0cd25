"""The classroom tests' oracle: which answers a lesson's scripts hold for a prompt.

Read from the script files themselves, by prompt alone (``when`` conditions aside), never
from the emulator's own choice: ``tests/test_classroom.py`` (nbclient) and
``tests/browser/test_classroom_ui.py`` (JupyterLab) check every reply a lesson shows
against it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from deepseek_magic.emulator import DEFAULT_REPLY_LABEL, Matched, load_script
from deepseek_magic.emulator._match import Rule

LESSON_DIR = Path(__file__).resolve().parent.parent.parent / "notebooks"


def lesson_rules(sources: list[str]) -> list[Rule]:
    """Every rule of every script the lesson's code cells name (``--script FILE``)."""
    rules: list[Rule] = []
    for source in sources:
        for name in re.findall(r"--script\s+(\S+)", source):
            for item in load_script(LESSON_DIR / name):
                if isinstance(item, Matched):
                    item = Rule((item.item,), contains=item.text)
                assert isinstance(item, Rule), f"{name}: an entry handed out in turn"
                rules.append(item)
    return rules


def allowed_answers(rules: list[Rule], prompt: str) -> set[str] | None:
    """The answers the scripts hold for ``prompt`` (by prompt only), or None when only a
    catch-all (``"prompt": "*"``) or nothing names it (then the default is allowed too)."""
    body = {"messages": [{"role": "user", "content": prompt}]}
    named = [
        r
        for r in rules
        if (r.prompt not in (None, "*") or r.contains is not None)
        and Rule(r.samples, prompt=r.prompt, contains=r.contains).matches(body)
    ]
    if named:
        return {getattr(s, "answer", "").strip() for r in named for s in r.samples}
    return None


def check_replies(rules: list[Rule], shown: list[dict[str, Any]], where: str) -> None:
    """Each shown reply (``prompt``, ``answer``, ``offline``) is its own prompt's."""
    catch_all = {
        getattr(s, "answer", "").strip() for r in rules if r.prompt == "*" for s in r.samples
    }
    for reply in shown:
        prompt, answer = reply["prompt"], (reply["answer"] or "").strip()
        if not reply["offline"] or not isinstance(prompt, str):
            continue  # a local server the lesson starts itself answers with its own default
        allowed = allowed_answers(rules, prompt)
        if allowed is not None:
            assert answer in allowed, f"{where}: {prompt!r} got another reply: {answer[:120]!r}"
        else:
            assert answer in catch_all or answer.startswith(DEFAULT_REPLY_LABEL), (
                f"{where}: {prompt!r} (no script names it) got {answer[:120]!r}"
            )
