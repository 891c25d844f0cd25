"""The notebook side: the magics, the live view, the panel and how results are displayed.

The only part of the package that imports IPython, ipywidgets or traitlets
(``tests/test_imports.py`` checks it). It uses the client, the tables and the renderer
below it; nothing below imports it.
"""
