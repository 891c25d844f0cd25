"""Many requests at once: ``map()`` / ``amap()`` over a dataset (run file, rate gate,
estimate) and ``sweep()`` over a grid of options. Uses the client and the session; it
imports nothing of the notebook's: the progress bar is ``tqdm.auto`` (imported when a run
starts), a sweep's table is drawn by ``_render`` and handed to the caller's ``view``.
"""
