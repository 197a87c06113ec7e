"""One file's bytes to a parsed document with analysed chunks. Pure, so it can run in a worker."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from leitstand.errors import IngestFileError, PiiRefusedError
from leitstand.guard.injection.scan import ChunkScanner
from leitstand.guard.pii import PiiDetector
from leitstand.ingest.chunker import Chunker, assemble
from leitstand.ingest.loaders.base import LoadContext, Loader, LoadError
from leitstand.search.analyser import Analyser
from leitstand.text.language import LanguageDetector
from leitstand.text.minhash import signatures


@dataclass
class ParsedFile:
    """Everything the writer needs to store one file; plain data, picklable."""

    path: str
    uri: str
    kind: str
    content_hash: str
    pipeline_hash: str
    size_bytes: int
    mtime_ns: int
    title: str
    language: str
    page_count: int | None
    text: str
    metadata: dict[str, Any]
    chunks: list[dict[str, Any]]
    """Chunk rows without their text: it is ``text[start_char:end_char]``, cut by the writer
    (so it does not travel twice between processes)."""
    warnings: list[str] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    """Chunks kept out of the index because they carry instructions to an AI: ordinal,
    offsets, page, score, rules and the start of the text."""
    masked: dict[str, int] = field(default_factory=dict)
    """Personal data overwritten before indexing (``ingest.pii``: mask), per class."""

    def chunk_rows(self, document_id: int) -> list[dict[str, Any]]:
        """The rows for the chunks table."""
        text = self.text
        return [
            {"document_id": document_id, "text": text[c["start_char"] : c["end_char"]], **c}
            for c in self.chunks
        ]


PIPELINE_VERSION = "7"
"""Bump when normalisation, chunking or analysis change, so stored documents are redone."""


@dataclass(frozen=True)
class ParseOptions:
    chunk_chars: int = 1000
    overlap_sentences: int = 0
    max_pages: int = 2000
    timeout_s: float = 60.0
    languages: tuple[str, ...] = ("de", "en")
    quarantine_injections: bool = True
    pii: tuple[tuple[str, str], ...] = ()
    """The collection's PII policy: (class, "mask" or "refuse") pairs, sorted."""

    def pipeline_hash(self, loader: str) -> str:
        """What the stored chunks of a document depend on besides its bytes."""
        key = (
            f"{PIPELINE_VERSION}|{loader}|{self.chunk_chars}|{self.overlap_sentences}|"
            f"{','.join(self.languages)}|{int(self.quarantine_injections)}"
        )
        if self.pii:  # a new policy redoes the collection's documents
            key += "|" + ",".join(f"{label}={action}" for label, action in self.pii)
        return hashlib.sha256(key.encode()).hexdigest()[:16]


def _json_safe(value: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(json.dumps(value, default=str, ensure_ascii=False))
    return result


def parse_file(
    *,
    data: bytes,
    path: str,
    uri: str,
    content_hash: str,
    mtime_ns: int,
    loader: Loader,
    analyser: Analyser,
    detector: LanguageDetector,
    options: ParseOptions,
    scanner: ChunkScanner | None = None,
    pii: PiiDetector | None = None,
) -> ParsedFile:
    """Load, normalise, detect the language, chunk and analyse one file; with a
    ``scanner``, chunks that carry instructions to an AI are quarantined, not indexed; with
    ``pii`` and a policy in ``options.pii``, personal data is masked or the file refused."""
    if not data:
        raise IngestFileError(
            path,
            "is empty (0 bytes); nothing to index",
            hint="if it should have content, check the export or copy that produced it",
        )
    context = LoadContext(path=path, max_pages=options.max_pages, timeout_s=options.timeout_s)
    try:
        loaded = loader.load(data, context)
    except LoadError as exc:
        raise IngestFileError(path, exc.reason, hint=exc.hint) from None
    except RecursionError:
        raise IngestFileError(path, f"is nested too deeply to be read as {loader.name}") from None
    context.check_deadline()
    text, placed = assemble(loaded.blocks)
    if not text.strip():
        hint = "run OCR first (e.g. ocrmypdf)" if loader.name == "pdf" else None
        raise IngestFileError(path, f"contains no extractable text ({loader.name})", hint=hint)
    masked: dict[str, int] = {}
    if options.pii and pii is not None:
        text, masked = apply_pii_policy(path, text, dict(options.pii), pii)
    language = detector.detect(text)
    title = (loaded.title or "").strip() or path.rsplit("/", 1)[-1]
    chunker = Chunker(options.chunk_chars, options.overlap_sentences)
    chunks: list[dict[str, Any]] = []
    contexts: dict[str, str] = {}
    quarantined: list[dict[str, Any]] = []
    for ordinal, span in enumerate(chunker.chunk(text, placed)):
        chunk_text = text[span.start : span.end]
        flagged = scanner.scan(chunk_text) if scanner is not None else None
        if flagged is not None:
            quarantined.append(
                {
                    "ordinal": ordinal,
                    "start_char": span.start,
                    "end_char": span.end,
                    "page": span.page_start,
                    "score": round(flagged.score, 3),
                    "rules": flagged.rules,
                    "excerpt": " ".join(chunk_text.split())[:160],
                }
            )
            continue
        # A chunk in another language than its document's (an English section of a German
        # manual) is analysed in its own; the chunk's folded words decide, cheaply.
        words, joined = analyser.tokens(chunk_text)
        chunk_language = detector.by_stop_words(words) or language
        terms = analyser.terms_of(words, joined, chunk_language)
        context_terms = contexts.get(span.heading)
        if context_terms is None:
            context_terms = analyser.analyse(f"{title}\n{span.heading}", language)
            contexts[span.heading] = context_terms
        chunks.append(
            {
                "ordinal": ordinal,
                "analysed": " ".join(terms),
                "analysed_context": context_terms,
                "heading": span.heading,
                "start_char": span.start,
                "end_char": span.end,
                "page_start": span.page_start,
                "page_end": span.page_end,
                "language": chunk_language,
                "term_count": len(terms),
                "text_hash": hashlib.sha256(chunk_text.encode("utf-8")).hexdigest(),
            }
        )
    # MinHash signatures for near-duplicate detection, all chunks of the file in one pass.
    for chunk, signature in zip(chunks, signatures([c["analysed"] for c in chunks]), strict=True):
        chunk["signature"] = signature
    return ParsedFile(
        path=path,
        uri=uri,
        kind=loader.name,
        content_hash=content_hash,
        pipeline_hash=options.pipeline_hash(loader.name),
        size_bytes=len(data),
        mtime_ns=mtime_ns,
        title=title,
        language=language,
        page_count=loaded.page_count,
        text=text,
        metadata=_json_safe(loaded.metadata),
        chunks=chunks,
        warnings=context.warnings,
        quarantined=quarantined,
        masked=masked,
    )


def apply_pii_policy(
    path: str, text: str, policy: dict[str, str], detector: PiiDetector
) -> tuple[str, dict[str, int]]:
    """The text with the values of ``mask`` classes overwritten, and how many per class;
    raises PiiRefusedError when it carries a ``refuse`` class.

    A masked value keeps its length ("[IBAN]••••••••••••••••••••••"), so every offset into
    the document — of chunks, pages, headings — stays true.
    """
    findings = [f for f in detector.detect(text) if f.label in policy]
    refused = Counter(f.label for f in findings if policy[f.label] == "refuse")
    if refused:
        found = ", ".join(f"{label} ×{n}" for label, n in sorted(refused.items()))
        raise PiiRefusedError(
            path,
            f"contains personal data its collection refuses ({found}); not indexed",
            hint="remove the data from the document, or change ingest.pii for this collection",
        )
    masked: Counter[str] = Counter()
    pieces: list[str] = []
    cursor = 0
    for finding in sorted(findings, key=lambda f: f.start):
        if finding.start < cursor:
            continue
        pieces.append(text[cursor : finding.start])
        pieces.append(_mask(finding.label, finding.end - finding.start))
        cursor = finding.end
        masked[finding.label] += 1
    pieces.append(text[cursor:])
    return "".join(pieces), dict(masked)


def _mask(label: str, length: int) -> str:
    tag = f"[{label}]"
    return tag + "•" * (length - len(tag)) if length >= len(tag) else "•" * length
