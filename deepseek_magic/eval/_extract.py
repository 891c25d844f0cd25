"""What :func:`~deepseek_magic.grade` reads out of an answer, and how it compares it with
the expected value: two tables, :data:`EXTRACTORS` and :data:`COMPARISONS` (a new one is
a new entry).

Extractors (each ``answer text -> value or None``; None is "no answer", graded wrong):

* ``"number"``: the final number of the answer. Where it looks, first match wins: the
  last ``\\boxed{...}``; the text after the last "Answer:" / "final answer is" / "the
  answer is"; the last **bold** span holding a number; else the last number in the text.
  Thousands separators (``1,234``, ``1 234`` with a thin space, LaTeX ``1{,}234`` and
  ``1\\,234``), negatives (``-5``, ``−5``), decimals, fractions (``3/4``, ``\\frac{3}{4}``),
  percentages and units (``42 cm``, ``$12.50``) are read; ``$...$`` math is read as text.
* ``"choice"``: an option label A-J, from ``\\boxed{B}``, "Answer: (B)", ``**B**``, a
  line holding only "B" or "(B)"; a lone letter in running text is not taken ("A" and "I"
  are words).
* ``"boxed"``: the content of the last ``\\boxed{}`` (braces balanced), stripped.
* ``"text"``: the text after the last "Answer:" if there is one, else the whole answer,
  normalised as SQuAD does: lower case, no markdown emphasis, punctuation or articles,
  spaces collapsed.

A string that names no extractor is a regular expression (its first group, else the
whole match, of the last match); a callable is called with the answer text.

Comparisons (``extracted, expected -> bool``): ``"exact"`` (after the extractor's own
normalising of the expected value), ``"numeric"`` (``math.isclose`` with ``tolerance``,
absolute and relative), ``"set"`` (set equality of items split on commas, semicolons and
"and"), ``"auto"`` (numeric for a numeric expected value, set for a list, else
normalised text: the default for a regex, a callable or a typed field), a callable, or
``"judge"`` (:mod:`._judge`).
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "COMPARISONS",
    "DEFAULT_COMPARISON",
    "EXTRACTORS",
    "boxed",
    "choice",
    "compare_values",
    "normalize_text",
    "number",
    "parse_number",
    "text",
]

# ----------------------------------------------------------------------------- numbers
_MINUS = "-−–"  # hyphen-minus, U+2212 minus, en dash as people type it
_NUMBER = re.compile(
    r"(?<![\w.,/])"  # not inside a word or another number
    rf"(?P<sign>[{_MINUS}])?\s?\$?\s?"
    r"(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
    r"(?P<frac>\.\d+)?"
    r"(?:\s?/\s?(?P<den>\d+(?:\.\d+)?))?"
    r"(?P<pct>\s?%)?"
)
_ANSWER_MARK = re.compile(
    r"(?:final\s+answer|answer)\s*(?:is|=|:|：)\s*|answer\s*\*\*\s*:?\s*",
    re.IGNORECASE,
)
_BOLD = re.compile(r"\*\*(.+?)\*\*|__(.+?)__", re.DOTALL)


def _latex_to_text(value: str) -> str:
    """Math written as LaTeX, brought to plain text a number can be read from."""
    out = value
    out = re.sub(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}", r"(\1)/(\2)", out)
    out = re.sub(r"\\text\w*\s*\{([^{}]*)\}", r" \1", out)
    out = re.sub(r"\\(?:mathrm|mathbf|textbf|operatorname)\s*\{([^{}]*)\}", r"\1", out)
    out = out.replace("{,}", ",").replace("\\,", "\u2009").replace("\\!", "")
    out = re.sub(r"\^\s*\{[^{}]*\}|\^\s*\d", "", out)  # cm^2: the exponent is a unit's
    out = re.sub(r"\\(?:left|right|quad|qquad|displaystyle|cdot)", " ", out)
    out = out.replace("\\%", "%").replace("\\$", "$")
    out = out.replace("(", " ").replace(")", " ") if "/" not in out else out
    return out.replace("{", " ").replace("}", " ").replace("\\", " ")


def _numbers(value: str) -> list[float]:
    """Every number in ``value``, in order (thousands separators, signs, fractions)."""
    flat = _latex_to_text(value)
    flat = re.sub(r"(?<=\d)[\u2009\u202f\u00a0](?=\d{3}\b)", "", flat)  # 1 234 (thin spaces)
    flat = re.sub(r"\(\s*([^()]*?)\s*\)\s*/\s*\(\s*([^()]*?)\s*\)", r"\1/\2", flat)
    found = [match_value(m) for m in _NUMBER.finditer(flat)]
    return [v for v in found if v is not None]


def match_value(m: re.Match[str]) -> float | None:
    """The number one match of :data:`_NUMBER` stands for (None for a zero denominator)."""
    whole = float(m.group("int").replace(",", "") + (m.group("frac") or ""))
    if m.group("den") is not None:
        den = float(m.group("den"))
        if den == 0:
            return None
        whole /= den
    return -whole if m.group("sign") else whole


def _tidy(value: float) -> float | int:
    return int(value) if value.is_integer() and abs(value) < 2**53 else value


def parse_number(value: Any) -> float | int | None:
    """``value`` as a number: a number as is, a text's first number (``"1,234 cm"`` ->
    1234), else None. Expected values go through this, so ``"1,234"`` compares with 1234."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return None if isinstance(value, float) and math.isnan(value) else value
    found = _numbers(str(value))
    return _tidy(found[0]) if found else None


def _last_boxed(value: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (or ``\\fbox``), nested braces balanced."""
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", value)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(value) and depth:
            depth += {"{": 1, "}": -1}.get(value[i], 0)
            i += 1
        if depth == 0:
            return value[start : i - 1].strip()
    return None


def _after_last_mark(value: str) -> str | None:
    marks = list(_ANSWER_MARK.finditer(value))
    return value[marks[-1].end() :] if marks else None


def number(answer: str) -> float | int | None:
    """The final number of the answer (see the module's docstring for where it looks)."""
    if not answer or not answer.strip():
        return None
    inside = _last_boxed(answer)
    if inside is not None:
        if "=" in inside:
            inside = inside.rsplit("=", 1)[1]
        found = _numbers(inside)
        if found:
            return _tidy(found[0])
    tail = _after_last_mark(answer)
    if tail is not None:
        found = _numbers(tail.split("\n\n", 1)[0])
        if found:
            return _tidy(found[0])
    for m in reversed(list(_BOLD.finditer(answer))):
        found = _numbers(m.group(1) or m.group(2) or "")
        if found:
            return _tidy(found[-1])
    found = _numbers(answer)
    return _tidy(found[-1]) if found else None


# ----------------------------------------------------------------------------- choices
_LABELS = "ABCDEFGHIJ"
_LONE = re.compile(rf"^[\s(\[*_]*(?:option\s+)?([{_LABELS}])[\s)\].:*_]*$", re.IGNORECASE)
_LABEL_AT_START = re.compile(rf"^[\s(\[*_]*(?:option\s+)?([{_LABELS}])(?![\w'])", re.IGNORECASE)


def choice(answer: str) -> str | None:
    """The option label the answer settles on (an upper-case letter), or None."""
    if not answer or not answer.strip():
        return None
    inside = _last_boxed(answer)
    if inside is not None:
        inside = re.sub(r"\\text\w*\s*\{([^{}]*)\}", r"\1", inside)
        m = _LABEL_AT_START.match(inside)
        if m:
            return m.group(1).upper()
    tail = _after_last_mark(answer)
    if tail is not None:
        m = _LABEL_AT_START.match(tail)
        if m and (m.group(1).isupper() or "(" in tail[: m.end()]):
            return m.group(1).upper()
    for m in reversed(list(_BOLD.finditer(answer))):
        inner = m.group(1) or m.group(2) or ""
        lone = _LONE.match(inner) or _LABEL_AT_START.match(inner)
        if lone and lone.group(1).isupper():
            return lone.group(1)
    for line in reversed(answer.strip().splitlines()):
        lone = _LONE.match(line)
        if lone and lone.group(1).isupper():
            return lone.group(1)
    found = re.findall(rf"\(([{_LABELS}])\)", answer)
    return found[-1] if found else None


# ----------------------------------------------------------------------------- boxed, text
def boxed(answer: str) -> str | None:
    """The content of the last ``\\boxed{}``, or None."""
    return _last_boxed(answer or "")


_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = str.maketrans("", "", string.punctuation + "“”‘’«»")


def normalize_text(value: Any) -> str:
    """SQuAD's normalising: lower case, no emphasis, punctuation or articles, one space."""
    out = str(value).lower().replace("**", "").replace("__", "").replace("`", "")
    out = out.translate(_PUNCT)
    out = _ARTICLES.sub(" ", out)
    return " ".join(out.split())


def text(answer: str) -> str | None:
    """The final answer as normalised text (after the last "Answer:" if there is one)."""
    if not answer or not answer.strip():
        return None
    tail = _after_last_mark(answer)
    chosen = tail.strip().split("\n\n", 1)[0] if tail and tail.strip() else answer
    return normalize_text(chosen) or None


#: name -> (extractor, how the expected value is brought to the same form)
EXTRACTORS: dict[str, tuple[Callable[[str], Any], Callable[[Any], Any]]] = {
    "number": (number, parse_number),
    "choice": (choice, lambda v: str(v).strip().strip("()").upper() if v is not None else None),
    "boxed": (boxed, lambda v: str(v).strip() if v is not None else None),
    "text": (text, lambda v: normalize_text(v) if v is not None else None),
}
#: the comparison each named extractor uses when ``compare=`` is not given
DEFAULT_COMPARISON = {"number": "numeric", "choice": "exact", "boxed": "exact", "text": "exact"}


# ----------------------------------------------------------------------------- comparisons
def _items(value: Any) -> frozenset[str]:
    if value is None:
        return frozenset()
    if isinstance(value, str):
        parts: Iterable[Any] = re.split(r"\s*(?:,|;|\band\b|&|\n)\s*", value)
    elif isinstance(value, Iterable):
        parts = value
    else:
        parts = [value]
    out = set()
    for part in parts:
        number_value = parse_number(part) if not isinstance(part, str) else None
        item = str(_tidy(float(number_value))) if number_value is not None else normalize_text(part)
        if item:
            out.add(item)
    return frozenset(out)


def _exact(extracted: Any, expected: Any, tolerance: float) -> bool:
    return extracted is not None and extracted == expected


def _numeric(extracted: Any, expected: Any, tolerance: float) -> bool:
    a, b = parse_number(extracted), parse_number(expected)
    if a is None or b is None:
        return False
    return math.isclose(float(a), float(b), rel_tol=tolerance, abs_tol=tolerance)


def _set(extracted: Any, expected: Any, tolerance: float) -> bool:
    return extracted is not None and _items(extracted) == _items(expected)


def _auto(extracted: Any, expected: Any, tolerance: float) -> bool:
    """Numeric when the expected value is a number (or a text that is only one), set
    equality for lists and sets, else normalised text."""
    if extracted is None:
        return False
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        return _numeric(extracted, expected, tolerance)
    if isinstance(expected, str) and _NUMBER.fullmatch(expected.strip()):
        return _numeric(extracted, expected, tolerance)
    if isinstance(expected, (list, tuple, set, frozenset)):
        return _set(extracted, expected, tolerance)
    return bool(extracted == expected or normalize_text(extracted) == normalize_text(expected))


#: name -> ``(extracted, expected, tolerance) -> bool``
COMPARISONS: dict[str, Callable[[Any, Any, float], bool]] = {
    "exact": _exact,
    "numeric": _numeric,
    "set": _set,
    "auto": _auto,
}


def compare_values(how: Any, extracted: Any, expected: Any, tolerance: float) -> bool:
    """One comparison: a name of :data:`COMPARISONS` or a callable ``(extracted, expected)``."""
    if callable(how):
        return bool(how(extracted, expected))
    return COMPARISONS[how](extracted, expected, tolerance)
