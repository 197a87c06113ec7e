"""Exceptions that leitstand raises on purpose.

Every error says what was wrong and, in ``hint``, what the user can do about it.
"""

from __future__ import annotations


class LeitstandError(Exception):
    """Base class of all errors that leitstand raises deliberately."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  hint: {self.hint}" if self.hint else self.message


class ConfigError(LeitstandError):
    """A setting in leitstand.yaml or the environment is missing or wrong."""


class SecretNotFoundError(ConfigError):
    """A secret reference points at an environment variable or file that does not exist."""


class StorageError(LeitstandError):
    """The database cannot be opened, migrated or written."""


class IngestFileError(LeitstandError):
    """One file could not be ingested; the batch goes on without it."""

    def __init__(self, path: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"{path}: {message}", hint=hint)
        self.path = path
        self.reason = message


class PiiRefusedError(IngestFileError):
    """A document carries personal data its collection refuses (``ingest.pii``)."""


class ModelError(LeitstandError):
    """A model provider could not be reached or answered with an error."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        hint: str | None = None,
        partial: bool = False,
        content_filter: bool = False,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.partial = partial
        """A stream broke after part of the answer was passed on."""
        self.content_filter = content_filter
        """The provider refused by its content filter."""


class UnknownUseCaseError(LeitstandError):
    """A request named a use case or model that is not configured."""


class NotFoundError(LeitstandError):
    """A trace, chunk, document or key with the given id does not exist."""


class GuardBlockedError(LeitstandError):
    """A guard stopped a request: an injection, a class of PII the policy blocks, a leak."""

    def __init__(self, message: str, *, reason: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.reason = reason


class LimitError(LeitstandError):
    """A request refused by a limit of its key, team or use case (HTTP 429)."""

    def __init__(
        self,
        message: str,
        *,
        scope: str,
        limit: str,
        retry_after_s: float,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.scope = scope
        """Who is limited, e.g. ``key 'alice'``, ``team 'legal'``, ``use case 'support'``."""
        self.limit = limit
        """The limit that refused, e.g. ``120 requests per minute`` or ``daily budget of
        10.00 EUR``."""
        self.retry_after_s = retry_after_s
        """Seconds until the same request would pass (the ``Retry-After`` header): for a
        budget, until its period resets (the next UTC day or month)."""


class RateLimitedError(LimitError):
    """A key, team or use case is over its requests or tokens per minute."""


class BudgetExceededError(LimitError):
    """A key, team or use case has spent its hard daily or monthly money budget."""
