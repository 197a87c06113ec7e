"""Query rewriting through the use case's chat model: multi-query and HyDE.

``multi-query``
    The model rewrites the question into :data:`QUERIES` search queries (synonyms, spelled-out
    abbreviations, the terms a document would use). Each is searched like the question, and
    the lists are fused with reciprocal rank fusion.
``hyde``
    Hypothetical document embeddings: the model writes a short passage that *could* answer
    the question; searching with it finds passages written in the same words, which helps
    where questions and documents use different vocabulary. Fused with the question's list.

Prompts are German for German questions and English otherwise (with the question's
language named), so the rewrites come in the documents' words. Both cost one model call per
question before retrieval, so they are off by default (``retrieval.expansion``); a use case
that answers extractively has no model, and the retriever then searches with the question
alone and says so in the trace.
"""

from __future__ import annotations

import json
import re
from typing import Literal

from leitstand.errors import LeitstandError, ModelError
from leitstand.llm.base import ChatMessage, ChatModel, ChatOptions

QUERIES = 3
REPLY_TOKENS = 300
PASSAGE_CHARS = 1500

Rewrite = Literal["multi-query", "hyde"]

_LANGUAGES = {
    "de": "Deutsch",
    "en": "English",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
}
_PROMPTS: dict[tuple[Rewrite, str], str] = {
    (
        "multi-query",
        "de",
    ): """Du hilfst einer Suchmaschine, Textstellen in den Dokumenten eines Unternehmens zu \
finden. Formuliere die Frage als {count} unterschiedliche Suchanfragen, die die Antwort finden \
könnten: mit Synonymen, ausgeschriebenen Abkürzungen und den Fachbegriffen, die ein Dokument \
verwenden würde. Schreibe auf Deutsch. Antworte nur mit den Suchanfragen, eine pro Zeile, \
ohne Nummern und ohne Erklärung.""",
    (
        "multi-query",
        "en",
    ): """You help a search engine find passages in a company's documents. Rewrite the \
question as {count} different search queries that could find the answer: use synonyms, spell \
out abbreviations, and use the technical terms a document would use. Write in {language}. \
Reply with the queries only, one per line, without numbers or explanations.""",
    (
        "hyde",
        "de",
    ): """Schreibe einen kurzen Absatz (drei bis fünf Sätze), wie er in einem Dokument eines \
Unternehmens stehen könnte, der die Frage beantwortet. Er muss nicht stimmen: Er dient nur \
dazu, ähnliche Textstellen zu suchen. Schreibe auf Deutsch. Antworte nur mit dem Absatz.""",
    (
        "hyde",
        "en",
    ): """Write a short passage (three to five sentences) as it could appear in a company \
document, answering the question. It need not be correct: it is only used to search for \
similar passages. Write in {language}. Reply with the passage only.""",
}
_LIST_MARK = re.compile(r"^\s*(?:[-*•·]|\d{1,2}[.):]|\(\d{1,2}\))\s*")
_QUOTES = "\"'„“”‚‘’«»"


class RewriteError(LeitstandError):
    """The model could not rewrite the question (an error, or an empty reply)."""


class LlmQueryRewriter:
    """Multi-query and HyDE through a chat model."""

    def __init__(self, *, queries: int = QUERIES, reply_tokens: int = REPLY_TOKENS) -> None:
        self.queries = queries
        self.reply_tokens = reply_tokens

    def messages(self, kind: Rewrite, question: str, language: str) -> list[ChatMessage]:
        prompt = _PROMPTS[(kind, "de" if language == "de" else "en")]
        system = prompt.format(count=self.queries, language=_LANGUAGES.get(language, "English"))
        return [ChatMessage("system", system), ChatMessage("user", question)]

    def rewrite(self, kind: Rewrite, question: str, language: str, model: ChatModel) -> list[str]:
        """Alternative queries (multi-query) or one hypothetical passage (hyde)."""
        options = ChatOptions(max_tokens=self.reply_tokens)
        try:
            reply = model.complete(self.messages(kind, question, language), options).content
        except ModelError as exc:
            raise RewriteError(f"the model failed: {exc.message}") from exc
        found = (
            parse_queries(reply, question, self.queries)
            if kind == "multi-query"
            else parse_passage(reply)
        )
        if not found:
            raise RewriteError(f"the model's reply holds no {kind} text: {reply[:200]!r}")
        return found


def parse_queries(reply: str, question: str, limit: int) -> list[str]:
    """The queries of a reply: one per line (or a JSON list), without list marks and quotes;
    repeats, the question itself and lead-in lines ("Here are three queries:") left out."""
    lines: list[str]
    try:
        parsed = json.loads(reply)
    except ValueError:
        parsed = None
    if isinstance(parsed, list) and all(isinstance(item, str) for item in parsed):
        lines = parsed
    else:
        lines = reply.replace("```", "\n").splitlines()
    seen = {_key(question)}
    queries: list[str] = []
    for line in lines:
        text = _LIST_MARK.sub("", line).strip().strip(_QUOTES).strip()
        if not text or text.endswith(":") or text.lower() in ("json", "text"):
            continue
        key = _key(text)
        if key in seen:
            continue
        seen.add(key)
        queries.append(text)
        if len(queries) == limit:
            break
    return queries


def parse_passage(reply: str) -> list[str]:
    """The hypothetical passage of a reply, as one text (or none)."""
    text = " ".join(reply.replace("```", " ").split()).strip(_QUOTES).strip()
    return [text[:PASSAGE_CHARS]] if text else []


def _key(text: str) -> str:
    return " ".join(text.casefold().rstrip("?.! ").split())
