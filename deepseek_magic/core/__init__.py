"""The tables and values: the option and settings tables, the providers, Result,
the errors, the session, settings resolution, a helper magic's line. No I/O, no
display; the rest of the package is built on these."""
