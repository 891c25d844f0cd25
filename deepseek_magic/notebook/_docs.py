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

__all__ = ["sections", "render_readme"]


def sections() -> dict[str, str]:
    from .._call import settings_markdown
    from .._options import options_markdown
    from .._providers import providers_markdown
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


if __name__ == "__main__":  # pragma: no cover - a maintenance command
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "README.md")
    path.write_text(render_readme(path.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"updated {path}")
