"""Prompt templates: Jinja2 files, rendered into chat messages, recorded by content hash.

A template is plain text with ``[system]``, ``[user]`` and ``[assistant]`` lines that start
sections. Its SHA-256 content hash is its version: the first use of a template stores it in
the ``prompts`` table, and every trace names the hash of the prompt that answered.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import jinja2.sandbox
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from leitstand.errors import ConfigError
from leitstand.llm.base import ChatMessage, Role
from leitstand.rag.answer import SourceRef
from leitstand.store.database import Database
from leitstand.store.models import Prompt

_SECTION = re.compile(r"\[(?<![^\n]\[)(system|user|assistant)\][ \t]*$", re.MULTILINE)
"""``[user]`` on a line of its own. The look-behind (no other character before the bracket)
stands for ``^``: a pattern that starts with the literal bracket is searched for as one, many
times faster than trying ``^`` at every position of a long prompt."""
LANGUAGE_NAMES = {
    "de": "German (Deutsch)",
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
}
_SOURCE_ATTRIBUTES = frozenset({"number", "hit", "location", "title", "text"})


class _PromptEnvironment(jinja2.sandbox.ImmutableSandboxedEnvironment):
    """The sandbox, with the read-only properties of the sources a prompt lists known to be
    safe: the general checks (several ``isinstance`` tests against abstract classes) ran for
    every attribute of every source of every request."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is SourceRef and attribute in _SOURCE_ATTRIBUTES:
            return getattr(obj, attribute)
        return super().getattr(obj, attribute)

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if type(obj) is SourceRef and attr in _SOURCE_ATTRIBUTES:
            return True
        return super().is_safe_attribute(obj, attr, value)


_environment = _PromptEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
)
DATAMARK = "ˆ"
"""Joins the words of retrieved text in the prompt (spotlighting by datamarking)."""
_WHITESPACE = re.compile(r"[ \t]+")


def datamark(text: str, mode: str = "datamark") -> str:
    """Spotlighting (Hines et al., 2024): with ``mode`` "datamark" the spaces between the
    words of a retrieved text become ``DATAMARK``, so that the model can always tell data
    from instructions — an instruction hidden in a document no longer reads like one.
    "delimit" leaves the text as it is (the template's tags delimit it)."""
    if mode != "datamark":
        return text
    text = str(text)  # not markupsafe's Markup (from ``| e``): its methods escape again
    if "\t" in text:
        text = text.replace("\t", " ")
    if "  " in text:  # runs of blanks are one mark; rare, and a regex is slow per match
        text = _WHITESPACE.sub(" ", text)
    return text.replace(" ", DATAMARK)


_environment.filters["datamark"] = datamark


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    text: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @classmethod
    def bundled(cls) -> PromptTemplate:
        text = resources.files("leitstand.prompts").joinpath("bundled/answer.j2").read_text("utf-8")
        return cls(name="answer", text=text)

    @classmethod
    def from_file(cls, path: Path) -> PromptTemplate:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"prompt template {path} cannot be read ({exc.strerror})",
                hint="fix use_cases.<name>.prompt in leitstand.yaml",
            ) from exc
        template = cls(name=path.stem, text=text)
        template.compile()
        return template

    def compile(self) -> jinja2.Template:
        return _compiled(self.name, self.text)

    def render(self, **variables: Any) -> list[ChatMessage]:
        try:
            rendered = self.compile().render(**variables)
        except jinja2.UndefinedError as exc:
            raise ConfigError(f"prompt template {self.name!r}: {exc.message}") from exc
        return _messages(self.name, rendered)


@lru_cache(maxsize=64)
def _compiled(name: str, text: str) -> jinja2.Template:
    """Templates are compiled once per content (compiling costs milliseconds)."""
    try:
        return _environment.from_string(text)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(
            f"prompt template {name!r} has a syntax error on line {exc.lineno}: {exc.message}"
        ) from exc


def _messages(name: str, rendered: str) -> list[ChatMessage]:
    parts = _SECTION.split(rendered)
    messages: list[ChatMessage] = []
    if preamble := parts[0].strip():
        messages.append(ChatMessage("system", preamble))
    for role, body in zip(parts[1::2], parts[2::2], strict=True):
        if content := body.strip():
            messages.append(ChatMessage(_role(role), content))
    if not any(message.role == "user" for message in messages):
        raise ConfigError(f"prompt template {name!r} renders no [user] section")
    return messages


def _role(name: str) -> Role:
    if name == "system":
        return "system"
    if name == "assistant":
        return "assistant"
    return "user"


def record_prompt(db: Database, template: PromptTemplate) -> str:
    """Store the template once per content hash; returns the hash."""
    digest = template.content_hash
    with db.read() as session:
        if session.scalar(select(Prompt.id).where(Prompt.content_hash == digest)) is not None:
            return digest
    try:
        with db.write() as session:
            if session.scalar(select(Prompt.id).where(Prompt.content_hash == digest)) is None:
                session.add(Prompt(name=template.name, content_hash=digest, template=template.text))
    except IntegrityError:  # another process recorded it first
        pass
    return digest
