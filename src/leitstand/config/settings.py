"""The settings of leitstand, declared once.

Every setting is a field below with its type, default and help text. The configuration
reference (``docs/configuration.md``), the commented file that ``leitstand init`` writes and
the environment overrides are all derived from these declarations; a test keeps the docs
in step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from leitstand.config.secrets import SecretRef

EXTRACTIVE = "extractive"
"""The name of the built-in extractive answerer, usable wherever a model name is expected."""

LanguageCode = Annotated[str, Field(pattern=r"^[a-z]{2}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


class IngestSettings(_Section):
    """How files become documents and chunks."""

    max_file_mb: float = Field(
        50.0, gt=0, description="Files larger than this many megabytes are skipped with a message."
    )
    max_pages: int = Field(
        2000, ge=1, description="PDF or DOCX files with more pages than this are skipped."
    )
    timeout_s: float = Field(
        60.0, gt=0, description="A file whose parsing takes longer than this is skipped."
    )
    chunk_chars: int = Field(
        1500,
        ge=200,
        le=20000,
        description="Target size of a chunk in characters; paragraphs stay whole where they fit.",
    )
    chunk_overlap_sentences: int = Field(
        0, ge=0, le=5, description="Sentences repeated at the start of the next chunk."
    )
    exclude: list[str] = Field(
        default_factory=lambda: [".*", "**/.*", "**/__pycache__/**", "**/node_modules/**"],
        description="Glob patterns (relative to the ingested folder) of files to ignore.",
    )
    quarantine_injections: bool = Field(
        True,
        description="Keep chunks that carry instructions to an AI out of the index and report "
        "them (indirect prompt injection).",
    )
    workers: int = Field(
        0,
        ge=0,
        le=64,
        description="Processes that parse files in parallel; 0 uses one per CPU core.",
    )
    pii: dict[str, dict[str, Literal["keep", "mask", "refuse"]]] = Field(
        default_factory=dict,
        description="Personal data per collection (source name, or * for every source): per "
        "PII class keep, mask (the value is overwritten before indexing) or refuse (the "
        "document is not indexed, and removed if it was), e.g. {hr: {IBAN: refuse, PERSON: mask}}.",
    )

    @field_validator("pii")
    @classmethod
    def _known_pii_classes(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        from leitstand.guard.pii import LABELS

        for source, classes in value.items():
            unknown = sorted(set(classes) - set(LABELS))
            if unknown:
                raise ValueError(
                    f"{source}: unknown PII class {unknown[0]!r}; known: {', '.join(LABELS)}"
                )
        return value

    def pii_for(self, source: str) -> dict[str, str]:
        """The PII policy of one collection: ``*`` with the source's own entries over it."""
        merged = {**self.pii.get("*", {}), **self.pii.get(source, {})}
        return {label: action for label, action in merged.items() if action != "keep"}


class RetrievalProfile(_Section):
    """How lexical and dense results are fused and refined; the defaults, or one collection's.

    ``leitstand eval tune`` measures these on a golden set and writes the winners under
    ``retrieval.collections.<source>``.
    """

    fusion: Literal["weighted", "rrf"] = Field(
        "weighted",
        description="weighted: min-max normalised scores, summed with weights; rrf: reciprocal "
        "rank fusion.",
    )
    dense_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Share of the dense score in weighted fusion, for questions in a language "
        "the embedding model handles (embeddings.languages).",
    )
    dense_weight_other: float = Field(
        0.3,
        ge=0,
        le=1,
        description="Share of the dense score for questions in other languages.",
    )
    rrf_k: int = Field(60, ge=1, le=1000, description="The k of reciprocal rank fusion.")
    expansion: Literal["none", "prf", "multi-query", "hyde"] = Field(
        "none",
        description="Query expansion: pseudo-relevance feedback (lexical), or multi-query / HyDE "
        "through the use case's chat model.",
    )
    reranker: Literal["none", "proximity", "cross-encoder", "llm"] = Field(
        "none", description="Re-ranking of the fused candidates."
    )


class RetrievalSettings(RetrievalProfile):
    """How a question finds its passages."""

    top_k: int = Field(5, ge=1, le=100, description="Chunks handed to the answerer per question.")
    context_weight: float = Field(
        1.5,
        ge=0,
        le=10,
        description="Weight of a chunk's title and heading path relative to its text in BM25.",
    )
    mode: Literal["auto", "lexical", "dense", "hybrid"] = Field(
        "auto",
        description="auto: hybrid when an embedding model is available, else lexical.",
    )
    candidates: int = Field(
        100, ge=1, le=2000, description="Chunks each retriever contributes before fusion."
    )
    memory_index: Literal["auto", "on", "off"] = Field(
        "auto",
        description="SQLite: answer lexical searches from postings held in memory (the same "
        "scores as FTS5, many times faster on large collections; about 7 bytes per chunk and "
        "distinct term). auto: built in the background once a collection has 20,000 chunks, "
        "FTS5 answers until then; on: built at the first search; off: FTS5 only. `leitstand "
        "ask` and `leitstand search` always use FTS5 (one question is not worth a build).",
    )
    rerank_depth: int = Field(
        30, ge=1, le=500, description="Fused candidates the re-ranker looks at."
    )
    prf_documents: int = Field(
        5, ge=1, le=50, description="Pseudo-relevance feedback: top chunks taken as relevant."
    )
    prf_terms: int = Field(
        10, ge=1, le=100, description="Pseudo-relevance feedback: expansion terms added."
    )
    prf_weight: float = Field(
        0.5, ge=0, le=1, description="Pseudo-relevance feedback: weight of the expansion."
    )
    cross_encoder: Path | None = Field(
        None, description="Folder of a local cross-encoder model for reranker: cross-encoder."
    )
    collections: dict[str, RetrievalProfile] = Field(
        default_factory=dict,
        description="Per source: fusion and refinement that beat the defaults on its golden set.",
    )

    def profile(self, source: str | None = None) -> RetrievalProfile:
        """The settings for one collection (source), or the defaults."""
        if source is not None and source in self.collections:
            return self.collections[source]
        return RetrievalProfile(
            fusion=self.fusion,
            dense_weight=self.dense_weight,
            dense_weight_other=self.dense_weight_other,
            rrf_k=self.rrf_k,
            expansion=self.expansion,
            reranker=self.reranker,
        )


class EmbeddingSettings(_Section):
    """The embedding model for dense retrieval (optional)."""

    provider: Literal["auto", "none", "local", "openai"] = Field(
        "auto",
        description="auto: the local model when `leitstand[local]` and a model are installed, "
        "else none; openai: any OpenAI-compatible /v1/embeddings endpoint.",
    )
    model: str = Field(
        "all-MiniLM-L6-v2",
        description="local: a folder with a sentence-transformers model, or the name of an "
        "installed model package; openai: the model name the endpoint expects.",
    )
    base_url: str | None = Field(
        None, description="openai: base URL, e.g. http://localhost:11434/v1."
    )
    api_key: SecretRef | None = Field(
        None, description='openai: key by reference, e.g. {"$env": "OPENAI_API_KEY"}.'
    )
    api_version: str | None = Field(
        None,
        description="openai: Azure OpenAI's api-version, e.g. 2024-10-21; then base_url is the "
        "deployment (https://<resource>.openai.azure.com/openai/deployments/<name>) and the key "
        "goes in the api-key header.",
    )
    batch_size: int = Field(32, ge=1, le=4096, description="Texts per embedding call.")
    timeout_s: float = Field(60.0, gt=0, description="openai: timeout of one request.")
    max_retries: int = Field(3, ge=0, le=10, description="openai: retries on 429, 5xx, timeouts.")
    languages: list[LanguageCode] = Field(
        default_factory=lambda: ["en"],
        description="Languages the model handles well (all-MiniLM-L6-v2: English); empty: all. "
        "Questions in other languages weigh dense results less (retrieval.dense_weight_other).",
    )
    query_prefix: str = Field("", description="Prepended to queries (e.g. 'query: ' for E5).")
    document_prefix: str = Field("", description="Prepended to passages (e.g. 'passage: ').")


class AssemblySettings(_Section):
    """How retrieved chunks become the context of an answer."""

    max_tokens: int = Field(
        2000, ge=100, le=200_000, description="Token budget of the context (estimated)."
    )
    mmr_lambda: float = Field(
        0.7, ge=0, le=1, description="MMR: 1 ranks by relevance only, lower values add variety."
    )
    merge_neighbours: bool = Field(
        True, description="Adjacent chunks of one document become one passage."
    )
    near_duplicate_threshold: float = Field(
        0.85,
        ge=0.5,
        le=1,
        description="Estimated Jaccard similarity above which chunks count as duplicates.",
    )


class AnswerSettings(_Section):
    """How the extractive answerer composes an answer."""

    max_sentences: int = Field(
        3, ge=1, le=20, description="Sentences the extractive answerer puts into an answer."
    )
    min_relative_score: float = Field(
        0.35,
        ge=0,
        le=1,
        description="A sentence is used only if it scores at least this share of the best one.",
    )


ModelCapability = Literal["chat", "streaming", "tools", "vision", "json"]
DEFAULT_CAPABILITIES: tuple[ModelCapability, ...] = ("chat", "streaming")


class ModelSettings(_Section):
    """A chat model behind an OpenAI-compatible endpoint (OpenAI, Azure, Mistral, Ollama, vLLM)."""

    provider: str = Field(
        "openai",
        description="Provider plugin for the endpoint; `openai` is any OpenAI-compatible API.",
    )
    base_url: str = Field(
        description="Base URL of the OpenAI-compatible API, e.g. http://localhost:11434/v1."
    )
    model: str = Field(description="Model name the provider expects, e.g. gpt-4o-mini or llama3.1.")
    api_key: SecretRef | None = Field(
        None,
        description='API key by reference, e.g. {"$env": "OPENAI_API_KEY"}; never in clear text.',
    )
    timeout_s: float = Field(60.0, gt=0, description="Timeout of one HTTP request in seconds.")
    max_retries: int = Field(
        3, ge=0, le=10, description="Retries with exponential backoff on 429, 5xx and timeouts."
    )
    temperature: float | None = Field(0.2, ge=0, le=2, description="Sampling temperature.")
    max_tokens: int | None = Field(None, ge=1, description="Upper bound of generated tokens.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers sent with every request."
    )
    api_version: str | None = Field(
        None,
        description="provider azure: the api-version query parameter, e.g. 2024-10-21.",
    )
    price_input: float = Field(
        0.0, ge=0, description="Price per 1M input (prompt) tokens, in `gateway.currency`."
    )
    price_output: float = Field(
        0.0, ge=0, description="Price per 1M output (completion) tokens, in `gateway.currency`."
    )
    context_window: int | None = Field(
        None, ge=1, description="Tokens the model takes in at most (prompt and answer)."
    )
    capabilities: list[ModelCapability] = Field(
        default_factory=lambda: list(DEFAULT_CAPABILITIES),
        description="What the model can do: chat, streaming, tools, vision, json.",
    )

    @model_validator(mode="after")
    def _check_azure(self) -> ModelSettings:
        if self.provider == "azure" and not self.api_version:
            raise ValueError(
                "provider azure needs api_version (e.g. 2024-10-21) and base_url "
                "https://<resource>.openai.azure.com/openai/deployments/<deployment>"
            )
        return self

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://, e.g. http://localhost:11434/v1")
        return value.rstrip("/")


GuardAction = Literal["allow", "redact", "pseudonymise", "escalate", "block"]


class GuardPattern(_Section):
    """A regular expression rule of the guard policy."""

    pattern: str = Field(description="Python regular expression, searched in the question.")
    action: GuardAction = Field("block", description="What happens when it matches.")

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        return value


class GuardSettings(_Section):
    """Input and output guards on the request path (see docs/guardrails.md)."""

    enabled: bool = Field(True, description="Scan questions and answers on the request path.")
    injection_action: Literal["allow", "escalate", "block"] = Field(
        "block", description="What happens to a question flagged as prompt injection."
    )
    injection_threshold: float = Field(
        0.5, ge=0, le=1, description="Injection score from which a question is flagged."
    )
    injection_classifier: Path | None = Field(
        None,
        description="Folder of a local injection classifier (a transformers "
        "sequence-classification model such as Prompt Guard); its score joins the rules'. "
        "Needs the [local] extra.",
    )
    pii_action: GuardAction = Field(
        "pseudonymise",
        description=(
            "What happens to PII in a question before it reaches a chat model: pseudonymise "
            "(placeholders, restored in the answer), redact, escalate, block or allow."
        ),
    )
    pii_classes: dict[str, GuardAction] = Field(
        default_factory=dict,
        description="Per PII class, overriding pii_action, e.g. {CREDIT_CARD: block}.",
    )
    pii_threshold: float = Field(
        0.5, ge=0, le=1, description="PII findings scored below this are ignored."
    )
    phone_regions: list[str] = Field(
        default_factory=lambda: ["DE", "AT", "CH"],
        description="Regions tried in turn for phone numbers written without a country code.",
    )
    spotlight: Literal["datamark", "delimit"] = Field(
        "datamark",
        description="How retrieved text is marked as data in the prompt: datamark (words "
        "joined by ˆ, inside delimiters) or delimit (delimiters only).",
    )
    banned_topics: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Topics a question may not touch: a name, and the words or phrases that "
        "mean it (matched as word beginnings, case and umlauts folded).",
    )
    banned_topic_action: GuardAction = Field(
        "block", description="What happens to a question that touches a banned topic."
    )
    semantic_topics: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Topics a question may not touch, recognised by meaning: a name, and "
        "example questions or phrases for it. Needs an embedding model (`embeddings`); "
        "banned_topic_action applies.",
    )
    semantic_topic_similarity: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Cosine similarity to an example from which a question touches a "
        "semantic topic.",
    )
    patterns: dict[str, GuardPattern] = Field(
        default_factory=dict,
        description="Regular expressions a question is checked against, by name, each with "
        "its action.",
    )
    languages: list[LanguageCode] = Field(
        default_factory=list,
        description="Languages a question may be written in (ISO 639-1); any when empty.",
    )
    language_action: GuardAction = Field(
        "block", description="What happens to a question in another language."
    )
    max_input_chars: int | None = Field(
        None, ge=1, description="Longest question (history included) accepted; no limit when empty."
    )
    output_pii_action: Literal["allow", "escalate"] = Field(
        "escalate",
        description="Personal data in an answer that neither the question nor the sources "
        "contain (made up or leaked): escalate records it on the trace.",
    )
    allowed_domains: list[str] = Field(
        default_factory=list,
        description="Domains (with their subdomains) whose links and images answers may "
        "contain, e.g. [intranet.example.de].",
    )
    external_links: Literal["keep", "remove"] = Field(
        "keep", description="Links in answers to domains outside allowed_domains."
    )
    external_images: Literal["keep", "remove"] = Field(
        "remove",
        description="Markdown images in answers from domains outside allowed_domains (a chat "
        "window loads them by itself: a way to send data out).",
    )
    canary: bool = Field(
        True,
        description="Put a secret marker into the system prompt; an answer that repeats it "
        "is blocked (a leaked prompt).",
    )
    groundedness: Literal["off", "lexical", "semantic", "judge"] = Field(
        "lexical",
        description="How each answer sentence is checked against the passages it cites: "
        "lexical (words and numbers, no model), semantic (lexical blended with the "
        "configured embedding model), judge (groundedness_judge decides), or off.",
    )
    groundedness_judge: str | None = Field(
        None,
        description="groundedness: judge — the key of the chat model (in `models`) that judges.",
    )
    support_threshold: float = Field(
        0.5, ge=0, le=1, description="Support score below which an answer sentence is unsupported."
    )
    groundedness_escalate_below: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Escalate an answer whose share of supported sentences is below this; "
        "never when empty (unsupported sentences are still marked).",
    )

    @field_validator("pii_classes")
    @classmethod
    def _known_classes(cls, value: dict[str, str]) -> dict[str, str]:
        from leitstand.guard.pii import LABELS

        unknown = sorted(set(value) - set(LABELS))
        if unknown:
            raise ValueError(f"unknown PII class {unknown[0]!r}; known: {', '.join(LABELS)}")
        return value


class RouteRule(_Section):
    """``when`` all given conditions hold, ``model`` answers."""

    model: str = Field(description="A key of `models`.")
    teams: list[str] = Field(
        default_factory=list, description="The API key's team is one of these."
    )
    min_input_tokens: int | None = Field(None, ge=0, description="At least this many tokens.")
    max_input_tokens: int | None = Field(None, ge=0, description="At most this many tokens.")
    languages: list[LanguageCode] = Field(
        default_factory=list, description="The question's language is one of these."
    )
    tasks: list[Literal["code", "translate", "summarise", "extract", "question"]] = Field(
        default_factory=list, description="The detected task is one of these."
    )


class CascadeSettings(_Section):
    """Try ``small``; keep its answer only when ``check`` passes, otherwise ``large`` answers."""

    small: str = Field(description="The cheap model tried first.")
    large: str = Field(description="The model that answers when the small one's answer fails.")
    check: Literal["groundedness", "verify", "judge"] = Field(
        "groundedness",
        description="groundedness: the support of the answer's weakest sentence by its sources "
        "(rag mode, no model call); verify: the small model is asked whether its answer is "
        "right (0-1); judge: `judge` scores it (0-1).",
    )
    threshold: float = Field(
        0.7,
        ge=0,
        le=1,
        description="The small model's answer is kept at this score or above (chosen on "
        "bench/cascade.py: at 0.7 the cascade matched the large model's accuracy).",
    )
    judge: str | None = Field(None, description="check judge: the model that scores.")


class CacheSettings(_Section):
    """Exact and semantic answer caches of a use case."""

    exact: bool = Field(False, description="Serve repeated identical requests from the cache.")
    semantic_threshold: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Serve a single-turn request whose question is this similar (cosine) to a "
        "cached one; needs `embeddings`. Off when empty. 0.77 kept wrong hits at 0.4 % with "
        "all-MiniLM-L6-v2 (bench/semantic_cache.py).",
    )
    ttl_s: int = Field(86_400, ge=1, description="Seconds a cached answer stays valid.")


class ToolSettings(_Section):
    """Which tool calls of a model pass, and which wait for a person."""

    allow: list[str] | None = Field(
        None,
        description="Tools the model may call. Unset: any tool the request offers; an empty "
        "list: none.",
    )
    approve: list[str] = Field(
        default_factory=list, description="Tools whose calls are held for a human decision."
    )
    validate_arguments: bool = Field(
        True, description="Check a call's arguments against the tool's JSON schema."
    )


class LimitSpec(_Section):
    """Request, token and money limits of one key, team or use case."""

    requests_per_minute: float | None = Field(None, gt=0, description="Requests per minute.")
    tokens_per_minute: float | None = Field(None, gt=0, description="Tokens per minute.")
    cost_per_day: float | None = Field(
        None, ge=0, description="Money per UTC day, in `gateway.currency`."
    )
    cost_per_month: float | None = Field(
        None, ge=0, description="Money per UTC calendar month, in `gateway.currency`."
    )
    budget: Literal["hard", "soft"] = Field(
        "hard", description="hard: refuse once a money budget is spent; soft: warn and serve."
    )


class LimitSettings(_Section):
    """Limits per API key, team and use case, shared by all workers through the database."""

    keys: dict[str, LimitSpec] = Field(
        default_factory=dict, description="By API key name (`leitstand keys list`)."
    )
    default_key: LimitSpec | None = Field(None, description="For every key not named in `keys`.")
    teams: dict[str, LimitSpec] = Field(default_factory=dict, description="By team.")
    use_cases: dict[str, LimitSpec] = Field(default_factory=dict, description="By use case.")


class GatewaySettings(_Section):
    """Costs, circuit breakers and limits of the model gateway."""

    currency: str = Field("EUR", description="Currency of model prices and budgets.")
    chars_per_token: float = Field(
        4.0,
        gt=0,
        description="Token estimate when a provider reports no usage: characters ÷ this.",
    )
    circuit_failures: int = Field(
        5, ge=1, description="Failures in a row that open a provider's circuit."
    )
    circuit_cooldown_s: float = Field(
        30.0, gt=0, description="Seconds an open circuit skips the provider before a trial."
    )
    limits: LimitSettings = Field(
        default_factory=LimitSettings, description="Rate limits and budgets."
    )


class UseCaseSettings(_Section):
    """An application of leitstand: which documents it may use and which model answers."""

    description: str = Field("", description="What this use case is for; shown in /v1/models.")
    model: str = Field(
        EXTRACTIVE,
        description="A key of `models`, or `extractive` for the built-in extractive answerer.",
    )
    prompt: Path | None = Field(
        None, description="Jinja2 prompt template file; the bundled template when empty."
    )
    top_k: int | None = Field(
        None, ge=1, le=100, description="Overrides retrieval.top_k for this use case."
    )
    sources: list[str] = Field(
        default_factory=list, description="Only these sources are searched; all when empty."
    )
    tags: list[str] = Field(
        default_factory=list, description="Only documents with one of these tags are searched."
    )
    languages: list[LanguageCode] = Field(
        default_factory=list, description="Only documents in these languages are searched."
    )
    max_context_tokens: int | None = Field(
        None, ge=100, le=200_000, description="Overrides assembly.max_tokens for this use case."
    )
    guard: dict[str, Any] = Field(
        default_factory=dict,
        description="Overrides of the guard settings for this use case (any key of `guard`).",
    )
    mode: Literal["rag", "chat"] = Field(
        "rag",
        description="rag: answers from the documents with sources; chat: the client's messages "
        "(tools included) go to the routed model as they are, through guards, caches and limits.",
    )
    routes: list[RouteRule] = Field(
        default_factory=list,
        description="Rules tried in order; the first that matches picks the model.",
    )
    fallbacks: list[str] = Field(
        default_factory=list,
        description="Models tried in order when the chosen one times out, fails (5xx), rate "
        "limits (429) or refuses by its content filter.",
    )
    cascade: CascadeSettings | None = Field(
        None, description="Small model first, the large one only when a check fails."
    )
    cache: CacheSettings = Field(default_factory=CacheSettings, description="Answer caches.")
    tools: ToolSettings = Field(default_factory=ToolSettings, description="Tool calls (chat mode).")

    def check_models(self, name: str, models: dict[str, ModelSettings]) -> None:
        """Raise ValueError when this use case names a model that is not configured, or
        combines modes and checks that cannot work together."""
        for used in self.models_used():
            if used != self.model and used not in models:
                known = ", ".join(models) or "none configured"
                raise ValueError(
                    f"use case {name!r} names the model {used!r} (routes, fallbacks or "
                    f"cascade), which is not configured; models: {known}"
                )
        cascade = self.cascade
        if self.mode == "chat" and cascade and cascade.check == "groundedness":
            raise ValueError(
                f"use case {name!r}: a cascade in chat mode cannot check groundedness "
                "(there are no sources); use check: verify or judge"
            )
        if cascade is not None and cascade.check == "judge" and not cascade.judge:
            raise ValueError(f"use case {name!r}: cascade.check judge needs cascade.judge")
        if self.mode == "chat" and self.model == EXTRACTIVE:
            raise ValueError(
                f"use case {name!r}: mode chat needs a model (the extractive answerer "
                "only answers from documents)"
            )

    def models_used(self) -> list[str]:
        """Every model this use case may call."""
        names = [self.model, *(rule.model for rule in self.routes), *self.fallbacks]
        if self.cascade is not None:
            names += [self.cascade.small, self.cascade.large]
            names += [self.cascade.judge] if self.cascade.judge else []
        return list(dict.fromkeys(names))


class ServerSettings(_Section):
    """The HTTP server started by `leitstand serve`."""

    host: str = Field(
        "127.0.0.1",
        description="Interface to listen on; anything but loopback needs at least one API key.",
    )
    port: int = Field(8000, ge=1, le=65535, description="TCP port.")
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API from a browser."
    )
    threads: int = Field(
        256,
        ge=4,
        le=4096,
        description="Worker threads per process: requests run in them, and a streamed answer "
        "holds one while it waits for the model, so this bounds the answers in flight per "
        "worker process.",
    )


class TracingSettings(_Section):
    """What is recorded about every request and ingestion run."""

    enabled: bool = Field(True, description="Record traces with one span per stage.")
    store_content: bool = Field(
        True, description="Keep question and answer text in traces (not only ids and figures)."
    )
    retention_days: int = Field(
        30, ge=1, description="Traces older than this are deleted by `leitstand traces prune`."
    )


class Settings(_Section):
    """Everything leitstand can be told in ``leitstand.yaml``."""

    data_dir: Path = Field(
        Path(".leitstand"),
        description="Folder for the SQLite database and index files, relative to the config file.",
    )
    database_url: str | None = Field(
        None,
        description=(
            "SQLAlchemy URL; empty means SQLite in data_dir. "
            "PostgreSQL: postgresql+psycopg://user@host/db (pip install 'leitstand[postgres]')."
        ),
    )
    languages: list[LanguageCode] = Field(
        default_factory=lambda: ["de", "en"],
        min_length=1,
        description="Languages detected in documents and questions; the first is the fallback.",
    )
    default_use_case: str = Field("default", description="Use case for requests that name none.")
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Ingestion.")
    retrieval: RetrievalSettings = Field(
        default_factory=RetrievalSettings, description="Retrieval."
    )
    embeddings: EmbeddingSettings = Field(
        default_factory=EmbeddingSettings, description="Embeddings."
    )
    assembly: AssemblySettings = Field(
        default_factory=AssemblySettings, description="Context assembly."
    )
    answer: AnswerSettings = Field(default_factory=AnswerSettings, description="Answering.")
    models: dict[str, ModelSettings] = Field(
        default_factory=dict, description="Chat models by name; none means extractive answers."
    )
    use_cases: dict[str, UseCaseSettings] = Field(
        default_factory=lambda: {"default": UseCaseSettings()},
        description="Use cases by name; a request selects one with its `model` field.",
    )
    guard: GuardSettings = Field(default_factory=GuardSettings, description="Guardrails.")
    gateway: GatewaySettings = Field(
        default_factory=GatewaySettings, description="Model gateway: costs and limits."
    )
    server: ServerSettings = Field(default_factory=ServerSettings, description="Server.")
    tracing: TracingSettings = Field(default_factory=TracingSettings, description="Tracing.")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Verbosity of the server log."
    )

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: list[str]) -> list[str]:
        from leitstand.search.analyser import SUPPORTED_LANGUAGES

        unknown = [code for code in value if code not in SUPPORTED_LANGUAGES]
        if unknown:
            allowed = ", ".join(sorted(SUPPORTED_LANGUAGES))
            raise ValueError(f"unsupported language {unknown[0]!r}; supported: {allowed}")
        return value

    @model_validator(mode="after")
    def _check_references(self) -> Settings:
        if "use_cases" not in self.model_fields_set and self.models:
            # A configured model answers by default; extractive stays available by name.
            self.use_cases = {"default": UseCaseSettings(model=next(iter(self.models)))}
        if not self.use_cases:
            self.use_cases = {"default": UseCaseSettings()}
        for name, use_case in self.use_cases.items():
            if use_case.model != EXTRACTIVE and use_case.model not in self.models:
                known = ", ".join([EXTRACTIVE, *self.models]) or EXTRACTIVE
                raise ValueError(
                    f"use_cases.{name}.model = {use_case.model!r} is not a configured model; "
                    f"allowed: {known}"
                )
            use_case.check_models(name, self.models)
        if self.default_use_case not in self.use_cases:
            known = ", ".join(self.use_cases)
            raise ValueError(
                f"default_use_case = {self.default_use_case!r} is not a use case; allowed: {known}"
            )
        for name in self.use_cases:
            try:
                guard = self.guard_for(name)
            except ValidationError as exc:
                error = exc.errors()[0]
                where = ".".join(str(part) for part in error["loc"])
                raise ValueError(f"use_cases.{name}.guard.{where}: {error['msg']}") from None
            if guard.groundedness == "judge" and guard.groundedness_judge not in self.models:
                known = ", ".join(self.models) or "none configured"
                raise ValueError(
                    f"use case {name!r}: groundedness: judge needs guard.groundedness_judge set "
                    f"to a configured model (got {guard.groundedness_judge!r}; models: {known})"
                )
        return self

    def guard_for(self, use_case: str) -> GuardSettings:
        """The guard settings of a use case: ``guard`` with the use case's overrides."""
        overrides = self.use_cases[use_case].guard if use_case in self.use_cases else {}
        if not overrides:
            return self.guard
        return GuardSettings.model_validate({**self.guard.model_dump(), **overrides})
