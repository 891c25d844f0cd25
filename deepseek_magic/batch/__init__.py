"""Many requests at once: ``map()`` / ``amap()`` over a dataset (run file, rate gate,
estimate) and ``sweep()`` over a grid of options. Uses the client and the session; the
notebook's progress bar and tables come in through ``tqdm.auto`` and the renderer.
"""
