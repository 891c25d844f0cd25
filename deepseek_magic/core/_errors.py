"""The exception tree of deepseek-magic.

Every error the package raises on purpose derives from :class:`DeepSeekError`::

    DeepSeekError
    ├── OptionError            an option value refused before anything was sent (also a ValueError)
    │   └── LineError          a helper magic's line (or a variable read like one) is unusable
    ├── ConfigError            settings that cannot work (no API key, bad base URL)
    ├── BudgetError            a request refused because it would exceed the spend budget
    ├── CacheError             the record/replay cache file is corrupt or has no entry (replay mode)
    ├── ToolError              a tool could not be described or run
    ├── PanelUnavailableError  the panel needs ipywidgets 8 (also an ImportError)
    ├── Interrupted            the kernel's interrupt (or Stop) ended a request, from any entry
    │                          point (also a KeyboardInterrupt, shown as one line)
    └── APIError               the server or the network failed the request
        ├── APIStatusError     the server answered with an HTTP error status (``.status_code``)
        │   ├── BadRequestError          400, 413 (and other 4xx without a class of their own)
        │   ├── AuthenticationError      401
        │   ├── PaymentRequiredError     402
        │   ├── PermissionDeniedError    403
        │   ├── NotFoundError            404
        │   ├── RequestTimeoutError      408
        │   ├── ConflictError            409
        │   ├── UnprocessableEntityError 422
        │   ├── RateLimitError           429
        │   └── InternalServerError      500 and above (``ServerError`` is the same class)
        ├── APIConnectionError  no HTTP answer at all (refused, DNS, TLS, dropped)
        │   └── APITimeoutError the server was silent for longer than the timeout
        └── StreamError         the stream failed after it started (in-stream error,
                                malformed chunk, truncated stream)

    UserWarning
    └── DeprecatedOptionWarning  a deprecated option was used (shown by default)

The names follow openai-python's (``status_code``, ``NotFoundError`` ...). An error raised
after tokens arrived carries the partial :class:`~deepseek_magic.Result` as ``.partial``
so nothing that was streamed is lost; :class:`Interrupted` carries it too, and from
``map()`` and sweeps the rows done so far as ``.partial_frame`` (a DataFrame).
``request_id`` is always the server's id of the request (its ``x-request-id`` or the
generation id); a batch row's own key is its ``row_key``.

In IPython a DeepSeekError is shown as one short message, not a traceback
(``_render_traceback_``); the full traceback stays available through ``%tb``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._result import Result

__all__ = [
    "DeepSeekError",
    "OptionError",
    "ConfigError",
    "BudgetError",
    "CacheError",
    "ToolError",
    "LineError",
    "PanelUnavailableError",
    "DeprecatedOptionWarning",
    "Interrupted",
    "APIError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PaymentRequiredError",
    "PermissionDeniedError",
    "NotFoundError",
    "RequestTimeoutError",
    "ConflictError",
    "UnprocessableEntityError",
    "RateLimitError",
    "InternalServerError",
    "ServerError",
    "APIConnectionError",
    "APITimeoutError",
    "StreamError",
    "status_error",
]


class DeepSeekError(Exception):
    """Base class of every error deepseek-magic raises on purpose."""

    #: what the user can do about it, appended to the message
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None, partial: Result | None = None):
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        #: the Result accumulated before the failure (None when nothing arrived)
        self.partial = partial

    def __str__(self) -> str:
        if self.hint and self.hint not in self.message:
            return f"{self.message} {self.hint}"
        return self.message

    def _render_traceback_(self) -> list[str]:
        # IPython calls this instead of printing a traceback: one clear line.
        name = type(self).__name__
        lines = [f"\x1b[31m{name}\x1b[0m: {self}"]
        if (
            self.partial is not None
            and (self.partial.answer or self.partial.reasoning)
            and "partial result" not in str(self)
        ):
            lines.append("The partial result was kept (see the history or your --out variable).")
        return lines


class OptionError(DeepSeekError, ValueError):
    """An option value was refused before any request was sent."""

    def __init__(self, message: str, *, option: str | None = None, value: Any = None):
        super().__init__(message)
        self.option = option
        self.value = value


class LineError(OptionError):
    """A helper magic's line (or an environment variable read like one) cannot be used;
    the message is one line naming the magic or the flag."""


class PanelUnavailableError(DeepSeekError, ImportError):
    """The panel needs ipywidgets 8 or later, which is not installed."""


class DeprecatedOptionWarning(UserWarning):
    """A deprecated option was used (shown by default, unlike DeprecationWarning)."""


class ConfigError(DeepSeekError):
    """The settings cannot work: no API key, a malformed base URL, an unknown provider."""


class BudgetError(DeepSeekError):
    """The request would exceed the session or per-call spend budget; nothing was sent."""


class CacheError(DeepSeekError):
    """The record/replay cache is unusable (corrupt line, no entry in replay mode)."""


class ToolError(DeepSeekError):
    """A Python function could not be offered or run as a tool."""


class Interrupted(DeepSeekError, KeyboardInterrupt):
    """The kernel's interrupt (or the panel's Stop) ended a request; ``.partial`` holds the
    Result of what had arrived, and for ``map()`` and sweeps ``.partial_frame`` the rows
    done so far (a pandas DataFrame).

    Raised by every entry point in place of the bare KeyboardInterrupt, so a cell fails
    (and "Run all" stops) with one line instead of a traceback through the HTTP library.
    It is still a KeyboardInterrupt for code that catches those."""

    hint = "The connection was closed."

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        partial: Result | None = None,
        partial_frame: Any = None,
    ):
        super().__init__(message, hint=hint, partial=partial)
        #: ``map()`` / sweeps: the rows done before the interrupt (a DataFrame), else None
        self.partial_frame = partial_frame


class APIError(DeepSeekError):
    """The request failed on the server's side or on the way to it."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        partial: Result | None = None,
        status: int | None = None,
        code: Any = None,
        body: Any = None,
        request_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message, hint=hint, partial=partial)
        #: the HTTP status (openai-python's name; ``status`` is the same value)
        self.status_code = status
        #: the server's own error code (``error.code``, int or string), when given
        self.code = code
        #: the parsed JSON error body, or its text
        self.body = body
        self.request_id = request_id
        #: provider metadata (``error.metadata``), e.g. ``error_type``, ``provider_name``
        self.metadata = metadata or {}
        self.retry_after = retry_after

    @property
    def status(self) -> int | None:
        """The HTTP status: an alias of :attr:`status_code`."""
        return self.status_code


class APIStatusError(APIError):
    """The server answered with an HTTP error status."""

    hint = "Check the request and try again."


class BadRequestError(APIStatusError):
    hint = "The server refused the request as invalid; check the options and the model name."


class AuthenticationError(APIStatusError):
    hint = "Check your API key: set DEEPSEEK_MAGIC_API_KEY or run %deepseek_key."


class PaymentRequiredError(APIStatusError):
    hint = "Your account or key has run out of credits; add credits or use another key."


class PermissionDeniedError(APIStatusError):
    hint = "The key may not use this model, or the input was flagged by moderation."


class RequestTimeoutError(APIStatusError):
    hint = "The server timed out; try again, perhaps with a smaller max_completion_tokens."


class RateLimitError(APIStatusError):
    hint = "You are rate limited; wait a little and run the cell again."


class NotFoundError(APIStatusError):
    hint = "The server has no such endpoint or model; check the base URL and the model name."


class ConflictError(APIStatusError):
    hint = "The server refused the request as conflicting; try again."


class UnprocessableEntityError(APIStatusError):
    hint = "The server could not process the request; check the options and the model name."


class InternalServerError(APIStatusError):
    hint = "The provider failed or is overloaded; try again later or choose another provider."


#: the earlier name of :class:`InternalServerError` (the same class)
ServerError = InternalServerError


class APIConnectionError(APIError):
    """No HTTP answer at all: connection refused, name not resolved, TLS failure, dropped."""

    hint = "Check the base URL and your network (or use %deepseek_offline for the emulator)."


class APITimeoutError(APIConnectionError):
    """The server was silent for longer than the timeout allows."""

    hint = "The server stopped sending; try again or raise the timeout with --timeout."


class StreamError(APIError):
    """The stream failed after it had started: an in-stream error, a malformed chunk, a cut."""

    hint = "What arrived before the failure is kept in the partial result."


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: PaymentRequiredError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    413: BadRequestError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def status_error(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status (pure, tested on its own)."""
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return InternalServerError
    return APIStatusError
