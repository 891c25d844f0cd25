"""Evaluating a reasoning model: grading answers (:mod:`._grade` grades the rows,
:mod:`._grades` holds the figures; the extractors and comparisons in :mod:`._extract`, the
statistics in :mod:`._stats`), a judge model (:mod:`._judge`), the reasoning's structure
(:mod:`._reasoning`), the reasoning explorer (:mod:`._explore`) and the plots
(:mod:`._plots`).

This layer sits above the engine (it calls ``map()`` for judge calls) and below the
notebook (the ``%deepseek_grade`` and ``%deepseek_explore`` magics call it).
"""
