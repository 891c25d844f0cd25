"""Code the test modules share; fixtures live in ``tests/conftest.py``.

* :mod:`tests.helpers.cells`: run a cell in a real InteractiveShell, capture what the
  frontend gets (:func:`~tests.helpers.cells.run_cell`, :class:`~tests.helpers.cells.CellRun`).
* :mod:`tests.helpers.streams`: recorded-style SSE streams of each dialect.
* :mod:`tests.helpers.faults`: thread/socket footprints, polling, a recording ``sleep``.
* :mod:`tests.helpers.tiers`: skip a tier whose tools are missing, or fail under CI.
* :mod:`tests.helpers.inert_html`: checks that rendered model output is inert, and the
  hostile corpus they run on.
* :mod:`tests.helpers.llama_build`: builds llama.cpp's ``llama-server`` and fetches a tiny
  GGUF model into the user's cache (a script too: ``python3 tests/helpers/llama_build.py``);
  :mod:`tests.helpers.llama_server` starts and stops it for the llama tier.

No test module imports another test module: what two of them need lives here.
"""
