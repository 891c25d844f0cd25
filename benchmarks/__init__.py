"""deepseek-magic benchmarks: figures measured side by side with a baseline in one run.

``python -m benchmarks`` (from the repository root) runs them all against the offline
emulator on loopback and writes ``benchmarks/BENCHMARKS.md`` and
``benchmarks/results.json``. They are scripts that print figures, never timed tests;
``tests/test_benchmarks_smoke.py`` runs them at a toy size so they cannot rot.

Modules: ``run`` (the command, machine facts), ``report`` (BENCHMARKS.md and
results.json), ``_corpus`` (replies of an exact token count), ``_emu`` (the emulator in
its own process), ``_common`` (figures, timing, the counting display publisher, the
baseline loop), ``_panel_driver`` (the panel's buttons), and one module per benchmark:
``streaming``, ``traffic``, ``concurrency``, ``loadtime``, ``memory``, ``batch``,
``browser``, ``schema``, ``samples``.
"""
