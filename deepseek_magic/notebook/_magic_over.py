"""``%%deepseek --over DATA -o out``: the cell is a template run once per row.

The template syntax is ``--vars``'s: ``{{column}}`` is the row's value; with ``--vars`` a
name that is not a column is a notebook variable. Everything is checked before the
first request (one line, nothing sent); the run itself is :func:`._batch.map_rows`.
``--dry-run`` prints the estimate; ``--hide-reasoning`` leaves the ``reasoning`` column
empty (the run file keeps it). ``-o NAME`` gets the DataFrame, also the partial one when
the run is interrupted.
"""

from __future__ import annotations

import sys
from typing import Any

from IPython.core.error import UsageError

from ..core._call import SETTING_BY_NAME
from ..core._errors import ConfigError, DeepSeekError, Interrupted, OptionError, ToolError
from ._display import bind

__all__ = ["OVER_ONLY", "run_over"]

#: flags that mean something only with --over (refused without it, never ignored)
OVER_ONLY = (("concurrency", "--concurrency"), ("budget", "--budget"), ("run_file", "--run-file"))

#: flags that make no sense for a run over rows (refused, never ignored)
_REFUSED = (
    ("sweep", "--sweep"),
    ("panel", "--panel"),
    ("conversation", "--chat"),
    ("run_tools", "--run-tools"),
    ("max_tool_rounds", "--max-tool-rounds"),
)


def run_over(magics: Any, args: Any, prompt: str) -> None:
    from ..batch._batch import map_rows
    from ..batch._runfile import DEFAULT_RUN_FILE

    for dest, flag in _REFUSED:
        if getattr(args, dest):
            raise UsageError(
                f"--over runs one independent request per row; {flag} cannot be used with it."
            )
    namespace = magics.shell.user_ns
    if args.over not in namespace:
        raise UsageError(f"--over {args.over}: no variable of that name in the notebook.")
    data = namespace[args.over]
    # every flag checked by the settings table (one line, nothing sent)
    call, options = magics._request_call(args)
    kwargs = {name: value for name, value in call.items() if SETTING_BY_NAME[name].keyword}
    concurrency = call.concurrency  # checked by map(), with the open-file limit
    budget = call.budget
    run_file: Any = call.run_file or DEFAULT_RUN_FILE
    if isinstance(run_file, str) and run_file.lower() == "none":
        run_file = None
    try:
        frame = map_rows(
            data,
            prompt,
            session=magics.session,
            template_style="vars",
            namespace=namespace if args.vars else None,
            concurrency=concurrency,
            budget=budget,
            run_file=run_file,
            dry_run=args.dry_run,
            keep_reasoning=call.show_reasoning,
            **kwargs,
            **options,
        )
    except (OptionError, ConfigError, ToolError) as exc:
        raise UsageError(str(exc)) from None
    except KeyboardInterrupt as exc:  # map() raises Interrupted with the rows done
        partial = getattr(exc, "partial_frame", None)
        if args.out and partial is not None:
            bind(namespace, args.out, partial, last=False)
        kept = (
            ""
            if partial is None
            else f" Finished rows are kept{' in ' + args.out if args.out else ''} and "
            "in the run file; run the cell again to resume."
        )
        raise Interrupted(
            "Stopped by the kernel's interrupt." + kept, partial_frame=partial
        ) from None
    except DeepSeekError:
        raise
    if args.dry_run:
        print(frame)
        return
    if args.out:
        bind(namespace, args.out, frame, last=False)
    else:
        print(
            "Tip: -o NAME keeps the answers as a DataFrame (the run file keeps them too).",
            file=sys.stdout,
        )
