"""Secrets by reference: ``{"$env": "NAME"}`` or ``{"$file": "/run/secrets/name"}``.

A secret is resolved only when it is used, never stored in clear text in the configuration,
and never shown in logs or reprs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leitstand.errors import SecretNotFoundError


class SecretRef(BaseModel):
    """A reference to a secret held outside the configuration file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    env: str | None = Field(None, alias="$env", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    file: str | None = Field(None, alias="$file")

    @model_validator(mode="before")
    @classmethod
    def _reject_clear_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError(
                "secrets are never stored in clear text; write a reference such as "
                '{"$env": "OPENAI_API_KEY"} and set that environment variable'
            )
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> SecretRef:
        if (self.env is None) == (self.file is None):
            raise ValueError('give exactly one of "$env" or "$file"')
        return self

    def describe(self) -> str:
        """Where the secret comes from, safe to print."""
        return f"$env:{self.env}" if self.env else f"$file:{self.file}"

    def resolve(self) -> str:
        """Return the secret's value, or raise an error naming what to set."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise SecretNotFoundError(
                    f"the environment variable {self.env} is not set",
                    hint=f"export {self.env}=... before starting leitstand",
                )
            return value
        assert self.file is not None
        path = Path(self.file)
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise SecretNotFoundError(
                f"the secret file {path} cannot be read ({exc.strerror})",
                hint=f"create {path} containing only the secret",
            ) from exc
        if not value:
            raise SecretNotFoundError(f"the secret file {path} is empty")
        return value

    def __repr__(self) -> str:
        return f"SecretRef({self.describe()})"
