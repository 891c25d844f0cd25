"""The engine: what turns a prepared request into a Result.

``_dispatch`` is the one module that sends requests (features, retries, tool and extra
rounds, partial capture) for every entry point; ``_stream`` is the public stream built on
it (``deepseek_magic.stream`` / ``astream``).
"""
