"""The client: bytes on the wire to a :class:`~deepseek_magic.Result`.

HTTP (httpx, or the browser's ``fetch`` under JupyterLite), server-sent events, the event
vocabulary, accumulation, the retry policy, request bodies and the ``/models`` catalogue.
The rule this package keeps (``tests/test_imports.py`` checks it): it imports neither
IPython nor ipywidgets, and nothing from :mod:`deepseek_magic.notebook`; httpx is imported
here and nowhere else in the package. Its modules load on the first request, not at
``import deepseek_magic`` (this file imports none of them).
"""
