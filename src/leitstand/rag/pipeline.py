"""The request corridor for a question: use case → retrieve → assemble → generate → answer.

Retrieval fetches :data:`CANDIDATES_PER_PASSAGE` times ``top_k`` candidates; context assembly
(``rag/assembly.py``) turns them into at most ``top_k`` chunks' worth of passages within the
use case's token budget, for both kinds of generation.

Both entry points, :meth:`AnswerService.ask` and :meth:`AnswerService.stream`, record a
trace with one span per stage. Generation is either the extractive answerer (no model
needed) or a chat model configured in ``models`` and selected by the use case.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from leitstand.config.loading import Config
from leitstand.config.settings import EXTRACTIVE, CascadeSettings, UseCaseSettings
from leitstand.errors import GuardBlockedError, UnknownUseCaseError
from leitstand.govern.controls import CacheKey, RequestControls
from leitstand.govern.costs import estimate_prompt_tokens
from leitstand.govern.usage import Caller, Metered, add_usage, meter
from leitstand.guard.grounded import Groundedness, GroundednessChecker, ModelJudge
from leitstand.guard.request import AnswerWatch, InputCheck, RequestGuard
from leitstand.llm.base import ChatDelta, ChatMessage, ChatModel, ChatOptions, Usage
from leitstand.llm.cascade import CascadeDecision, score_by_model
from leitstand.llm.router import RouteContext, detect_task
from leitstand.rag.answer import (
    NO_ANSWER,
    Answer,
    SourceRef,
    cached_answer,
    cited_numbers,
    localised,
)
from leitstand.rag.assembly import ContextAssembler, Passage
from leitstand.rag.extractive import ExtractiveAnswerer
from leitstand.search.analyser import Analyser
from leitstand.search.base import SearchFilters
from leitstand.search.hits import Hit
from leitstand.search.retriever import Retriever
from leitstand.store.database import Database
from leitstand.trace.recorder import ActiveTrace, Tracer

if TYPE_CHECKING:
    from leitstand.cache.answers import CacheHit
    from leitstand.embeddings.base import Embedder
    from leitstand.govern.limits import Admission
    from leitstand.guard.injection.classifier import TransformersClassifier
    from leitstand.llm.router import Router
    from leitstand.prompts import PromptTemplate

STREAM_PIECE_WORDS = 6
CANDIDATES_PER_PASSAGE = 2
"""Candidates retrieved per chunk of the context: room for assembly to drop repeats and
choose for variety (MMR)."""


@dataclass(frozen=True)
class ResolvedUseCase:
    name: str
    settings: UseCaseSettings
    model: str

    @property
    def filters(self) -> SearchFilters:
        return SearchFilters(
            sources=tuple(self.settings.sources),
            languages=tuple(self.settings.languages),
            tags=tuple(self.settings.tags),
        )


@dataclass
class StreamEvent:
    """``sources`` once retrieval is done, ``delta`` for each piece of text, ``done`` at the end."""

    kind: Literal["sources", "delta", "done"]
    text: str = ""
    sources: list[SourceRef] | None = None
    answer: Answer | None = None
    trace_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    """On ``sources``: spent soft budgets of the caller (served anyway)."""
    cached: str | None = None
    """On ``sources``: ``exact`` or ``semantic`` when the answer comes from the cache."""


class ModelPool:
    """Chat models by configured name, created on first use and shared between requests."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._models: dict[str, ChatModel] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> ChatModel:
        with self._lock:
            model = self._models.get(name)
            if model is None:
                from leitstand.llm.registry import chat_model_from_settings

                model = chat_model_from_settings(name, self.config.settings.models[name])
                self._models[name] = model
            return model

    def close(self) -> None:
        with self._lock:
            for model in self._models.values():
                model.close()
            self._models.clear()


class AnswerService:
    def __init__(
        self,
        config: Config,
        db: Database,
        retriever: Retriever,
        analyser: Analyser,
        tracer: Tracer,
        *,
        embedder: Embedder | None = None,
    ) -> None:
        self.config = config
        self.settings = config.settings
        self.db = db
        self.retriever = retriever
        self.tracer = tracer
        self.analyser = analyser
        self.embedder = embedder
        """The embedding model, for groundedness: semantic."""
        self.models = ModelPool(config)
        self.router: Router | None = None
        """Set by :class:`~leitstand.core.Leitstand`: fallbacks and cascades of the models."""
        self.controls = RequestControls(None, None)
        """Set by :class:`~leitstand.core.Leitstand`: limits and answer caches."""
        self.assembler = ContextAssembler(db, self.settings.assembly)
        self.extractive = ExtractiveAnswerer(
            analyser,
            max_sentences=self.settings.answer.max_sentences,
            min_relative_score=self.settings.answer.min_relative_score,
        )
        self._templates: dict[str, tuple[PromptTemplate, str]] = {}
        self._template_lock = threading.Lock()
        self._guards: dict[str, RequestGuard | None] = {}
        self._grounders: dict[str, GroundednessChecker | None] = {}
        self._classifiers: dict[Path, TransformersClassifier] = {}
        self._guard_lock = threading.Lock()

    # -- use cases -------------------------------------------------------------------

    def names(self) -> list[str]:
        """Everything a request's ``model`` field may name."""
        return [*self.settings.use_cases, *self.settings.models, EXTRACTIVE]

    def resolve(self, name: str | None) -> ResolvedUseCase:
        """A use case by name; a model name selects the default use case with that model."""
        use_cases = self.settings.use_cases
        default = self.settings.default_use_case
        if not name:
            name = default
        if name in use_cases:
            return ResolvedUseCase(name, use_cases[name], use_cases[name].model)
        if name in self.settings.models or name == EXTRACTIVE:
            return ResolvedUseCase(default, use_cases[default], name)
        raise UnknownUseCaseError(
            f"'{name}' is neither a configured use case nor a model",
            hint=f"use one of: {', '.join(self.names())}",
        )

    def _template(self, use_case: ResolvedUseCase) -> tuple[PromptTemplate, str]:
        path = use_case.settings.prompt
        key = str(path) if path else ""
        with self._template_lock:
            found = self._templates.get(key)
            if found is None:
                from leitstand.prompts import PromptTemplate, record_prompt

                template = (
                    PromptTemplate.from_file(self.config.resolve_path(path))
                    if path
                    else PromptTemplate.bundled()
                )
                found = (template, record_prompt(self.db, template))
                self._templates[key] = found
            return found

    # -- the corridor -----------------------------------------------------------------

    def _retrieve(
        self, question: str, use_case: ResolvedUseCase, trace: ActiveTrace
    ) -> tuple[str, list[Hit]]:
        k = use_case.settings.top_k or self.settings.retrieval.top_k
        budget = use_case.settings.max_context_tokens or self.settings.assembly.max_tokens
        # The use case's chat model, for multi-query, HyDE and the llm re-ranker.
        model = None if use_case.model == EXTRACTIVE else self.models.get(use_case.model)
        with trace.span("retrieve", k=k) as span:
            result = self.retriever.search(
                question,
                k=k * CANDIDATES_PER_PASSAGE,
                filters=use_case.filters,
                trace=trace,
                model=model,
            )
            span.set(
                mode=result.mode,
                language=result.language,
                terms=result.terms,
                chunks=[{"id": h.chunk_id, "score": round(h.score, 4)} for h in result.hits],
            )
            with trace.span("assemble") as assembled:
                assembly = self.assembler.assemble(result.hits, limit=k, budget=budget)
                assembled.set(**assembly.trace_attributes())
        return result.language, list(assembly.passages)

    def _start(
        self, question: str, use_case_name: str | None
    ) -> tuple[ActiveTrace, ResolvedUseCase]:
        trace = self.tracer.start("request", "answer")
        trace.input = question
        try:
            use_case = self.resolve(use_case_name)
        except UnknownUseCaseError as exc:
            trace.finish(error=exc)
            raise
        trace.use_case = use_case.name
        trace.model = use_case.model
        return trace, use_case

    def ask(
        self,
        question: str,
        *,
        use_case: str | None = None,
        history: Sequence[ChatMessage] = (),
        options: ChatOptions | None = None,
        caller: Caller | None = None,
    ) -> Answer:
        answer: Answer | None = None
        events = self.stream(
            question, use_case=use_case, history=history, options=options, caller=caller
        )
        for event in events:
            if event.kind == "done":
                answer = event.answer
        assert answer is not None
        return answer

    def stream(
        self,
        question: str,
        *,
        use_case: str | None = None,
        history: Sequence[ChatMessage] = (),
        options: ChatOptions | None = None,
        caller: Caller | None = None,
    ) -> Iterator[StreamEvent]:
        """Answer a question piece by piece; the trace is finished when the stream ends."""
        trace, resolved = self._start(question, use_case)
        caller = caller or Caller()
        admission: Admission | None = None
        try:
            check = self._guard_input(question, history, resolved, trace)
            tokens = estimate_prompt_tokens(
                [question, *(m.content for m in history)], self.settings.gateway.chars_per_token
            )
            admission = self.controls.admit(trace, resolved.name, caller, tokens)
            warnings = list(admission.warnings) if admission is not None else []
            cache = resolved.settings.cache
            caching = resolved.model != EXTRACTIVE and self.controls.caching(cache, check)
            if caching:
                key = self._cache_key(question, history, resolved, caller)
                hit = self.controls.lookup(trace, key)
                if hit is not None:
                    yield from self._cached(hit, question, resolved, caller, warnings, trace)
                    trace.finish()
                    return
            language, hits = self._retrieve(question, resolved, trace)
            if resolved.model == EXTRACTIVE:
                events = self._extractive(question, language, hits, resolved, trace)
            else:
                events = self._generate(
                    question, language, hits, resolved, history, options, trace, check, caller
                )
            for event in events:
                if event.kind == "sources" and warnings:
                    event = replace(event, warnings=warnings)  # noqa: PLW2901
                if event.answer is not None:
                    event.answer.warnings = warnings
                    if caching and event.answer.answered:
                        self.controls.store(
                            trace, key, event.answer.cache_entry(), _chunk_ids(hits)
                        )
                yield event
        except GeneratorExit:
            trace.finish(status="cancelled")
            raise
        except BaseException as exc:
            trace.finish(error=exc)
            raise
        finally:
            self.controls.settle(admission, trace)
        trace.finish()

    def _cache_key(
        self,
        question: str,
        history: Sequence[ChatMessage],
        use_case: ResolvedUseCase,
        caller: Caller,
    ) -> CacheKey:
        """A rag answer is cached under the prompt template's version, the use case's model
        and the conversation."""
        _, prompt_hash = self._template(use_case)
        messages = [*((m.role, m.content) for m in history), ("user", question)]
        return CacheKey(
            use_case.name, use_case.settings.cache, caller, prompt_hash, use_case.model, messages
        )

    def _cached(
        self,
        hit: CacheHit,
        question: str,
        use_case: ResolvedUseCase,
        caller: Caller,
        warnings: list[str],
        trace: ActiveTrace,
    ) -> Iterator[StreamEvent]:
        """A cache hit as a stream: its sources, its text in one piece, done."""
        answer = cached_answer(hit.response, question, use_case.name)
        answer.trace_id = trace.id
        answer.cached = trace.attributes.get("cache")
        answer.warnings = warnings
        trace.model = answer.model
        trace.output = answer.text
        trace.set(sources=len(answer.sources), cached=True)
        if answer.model in self.settings.models:
            add_usage(
                trace,
                use_case=use_case.name,
                caller=caller,
                model=answer.model,
                settings=self.settings.models[answer.model],
                metered=Metered(0, 0, False, 0.0),
                cached=True,
            )
        yield StreamEvent(
            "sources", sources=answer.sources, trace_id=trace.id, warnings=warnings, cached=hit.kind
        )
        yield StreamEvent("delta", text=answer.text)
        yield StreamEvent("done", answer=answer)

    def guard(self, use_case: str) -> RequestGuard | None:
        """The guards of a use case (``guard`` with its overrides); None when switched off."""
        with self._guard_lock:
            if use_case not in self._guards:
                settings = self.settings.guard_for(use_case)
                self._guards[use_case] = (
                    RequestGuard(
                        settings,
                        embedder=self.embedder,
                        classifier=self._classifier(settings.injection_classifier),
                    )
                    if settings.enabled
                    else None
                )
            return self._guards[use_case]

    def _classifier(self, path: Path | None) -> TransformersClassifier | None:
        """The injection classifier in ``path``, loaded once for all use cases naming it."""
        if path is None:
            return None
        from leitstand.guard.injection.classifier import TransformersClassifier

        folder = self.config.resolve_path(path)
        if folder not in self._classifiers:
            self._classifiers[folder] = TransformersClassifier(folder)
        return self._classifiers[folder]

    def grounder(self, use_case: str) -> GroundednessChecker | None:
        """The groundedness check of a use case; None when off (or the guards are)."""
        with self._guard_lock:
            if use_case in self._grounders:
                return self._grounders[use_case]
        settings = self.settings.guard_for(use_case)
        checker = None
        if settings.enabled and settings.groundedness != "off":
            judge = None
            if settings.groundedness == "judge" and settings.groundedness_judge:
                name = settings.groundedness_judge
                judge = ModelJudge(self.models.get(name), name)
            checker = GroundednessChecker(
                self.analyser,
                threshold=settings.support_threshold,
                embedder=self.embedder if settings.groundedness == "semantic" else None,
                judge=judge,
            )
        with self._guard_lock:
            return self._grounders.setdefault(use_case, checker)

    def _check_grounded(
        self,
        text: str,
        question: str,
        language: str,
        sources: list[SourceRef],
        use_case: str,
        trace: ActiveTrace,
    ) -> Groundedness | None:
        """Each answer sentence against the passages it cites; marked on the trace, and
        escalated below the use case's threshold."""
        checker = self.grounder(use_case)
        if checker is None or not sources:
            return None
        with trace.span("groundedness", method=checker.method) as span:
            report = checker.check(
                text,
                {source.number: source.text for source in sources},
                question=question,
                language=language,
                terms={
                    source.number: source.hit.analysed
                    for source in sources
                    if isinstance(source.hit, Passage) and source.hit.analysed
                },
            )
            span.set(**report.as_dict())
        limit = self.settings.guard_for(use_case).groundedness_escalate_below
        score = report.score
        if limit is not None and score is not None and score < limit:
            _escalate(trace, [f"ungrounded:{score:.2f}<{limit}"])
        return report

    def _guard_input(
        self,
        question: str,
        history: Sequence[ChatMessage],
        use_case: ResolvedUseCase,
        trace: ActiveTrace,
    ) -> InputCheck | None:
        """The input guards; raises GuardBlockedError when the policy blocks."""
        guard = self.guard(use_case.name)
        if guard is None:
            return None
        with trace.span("guard_input") as span:
            try:
                check = guard.check_input(question, history)
            except GuardBlockedError as exc:
                span.set(action="block", reasons=exc.reason.split(","))
                raise
            span.set(**check.trace_attributes())
        if check.action == "escalate":
            _escalate(trace, check.reasons)
        return check

    @staticmethod
    def _guard_output(
        guard: RequestGuard,
        text: str,
        question: str,
        history: Sequence[ChatMessage],
        hits: list[Hit],
        trace: ActiveTrace,
    ) -> None:
        """Personal data in the answer that neither the user nor the sources gave: the model
        made it up or leaked it. Recorded (and escalated, by default) on the trace."""
        known = [question, *(m.content for m in history), *(hit.text for hit in hits)]
        unexplained = guard.unexplained_pii(text, known)
        if not unexplained:
            return
        with trace.span("guard_output") as span:
            span.set(
                pii=[f.as_dict() for f in unexplained], action=guard.settings.output_pii_action
            )
        if guard.settings.output_pii_action == "escalate":
            _escalate(trace, [f"output-pii:{f.label}" for f in unexplained])

    def _extractive(
        self,
        question: str,
        language: str,
        hits: list[Hit],
        use_case: ResolvedUseCase,
        trace: ActiveTrace,
    ) -> Iterator[StreamEvent]:
        with trace.span("generate", model=EXTRACTIVE) as span:
            sentences = self.extractive.select(question, language, hits)
            numbers: dict[int, int] = {}
            parts = []
            for sentence in sentences:
                number = numbers.setdefault(sentence.hit.chunk_id, len(numbers) + 1)
                parts.append(f"{sentence.text} [{number}]")
            by_id = {hit.chunk_id: hit for hit in hits}
            sources = [SourceRef(n, by_id[chunk_id]) for chunk_id, n in numbers.items()]
            text = " ".join(parts) if parts else localised(NO_ANSWER, language)
            span.set(
                sentences=[
                    {
                        "chunk": s.hit.chunk_id,
                        "start": s.start_char,
                        "end": s.end_char,
                        "score": round(s.score, 3),
                    }
                    for s in sentences
                ]
            )
        yield StreamEvent("sources", sources=sources, trace_id=trace.id)
        words = text.split(" ")
        for start in range(0, len(words), STREAM_PIECE_WORDS):
            piece = " ".join(words[start : start + STREAM_PIECE_WORDS])
            yield StreamEvent("delta", text=piece if start == 0 else " " + piece)
        answer = Answer(
            text=text,
            sources=sources,
            question=question,
            language=language,
            use_case=use_case.name,
            model=EXTRACTIVE,
            trace_id=trace.id,
            answered=bool(sentences),
        )
        trace.output = text
        trace.set(answered=answer.answered, sources=len(sources))
        yield StreamEvent("done", answer=answer)

    def _generate(
        self,
        question: str,
        language: str,
        hits: list[Hit],
        use_case: ResolvedUseCase,
        history: Sequence[ChatMessage],
        options: ChatOptions | None,
        trace: ActiveTrace,
        check: InputCheck | None = None,
        caller: Caller | None = None,
    ) -> Iterator[StreamEvent]:
        caller = caller or Caller()
        numbered = [SourceRef(number, hit) for number, hit in enumerate(hits, start=1)]
        # What the model sees: PII pseudonymised or redacted as the policy says.
        asked, history = check.for_model(question, history) if check else (question, history)
        guard = self.guard(use_case.name)
        watch = guard.watch(check) if guard is not None else None
        messages, prompt_hash = self._prompt(
            asked, numbered, language, use_case, history, guard, watch, trace
        )
        trace.prompt_hash = prompt_hash
        yield StreamEvent("sources", sources=numbered, trace_id=trace.id)
        pieces: list[str] = []
        usage: Usage | None = None
        with trace.span("generate") as span:
            chosen: list[str] = []
            first_token_ms: float | None = None
            restore = watch.mapping.restore if watch is not None and watch.mapping else None
            deltas = self._model_deltas(
                (question, asked),
                messages,
                numbered,
                language,
                use_case,
                options,
                caller,
                trace,
                chosen,
                restore,
            )
            for delta in deltas:
                if delta.content:
                    if first_token_ms is None:
                        first_token_ms = span.elapsed_ms()
                    pieces.append(delta.content)
                    shown = watch.feed(delta.content) if watch is not None else delta.content
                    if shown:
                        yield StreamEvent("delta", text=shown)
                if delta.usage is not None:
                    usage = delta.usage
            if watch is not None and (rest := watch.flush()):
                yield StreamEvent("delta", text=rest)
            name = chosen[-1]
            span.set(
                model=name,
                provider_model=self.settings.models[name].model,
                first_token_ms=first_token_ms,
            )
            if usage is not None:
                span.set(
                    prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens
                )
        trace.model = name
        text = "".join(pieces)
        if watch is not None:
            text = watch.final(text)
        if guard is not None:
            self._guard_output(guard, text, question, history, hits, trace)
        grounded = self._check_grounded(text, question, language, numbered, use_case.name, trace)
        cited = [n for n in cited_numbers(text) if 1 <= n <= len(numbered)]
        sources = [numbered[n - 1] for n in cited] if cited else numbered
        answer = Answer(
            text=text,
            sources=sources,
            question=question,
            language=language,
            use_case=use_case.name,
            model=name,
            trace_id=trace.id,
            prompt_hash=prompt_hash,
            usage=usage,
            groundedness=grounded,
        )
        trace.output = text
        trace.set(sources=len(sources), cited=cited)
        yield StreamEvent("done", answer=answer)

    def _prompt(
        self,
        asked: str,
        numbered: list[SourceRef],
        language: str,
        use_case: ResolvedUseCase,
        history: Sequence[ChatMessage],
        guard: RequestGuard | None,
        watch: AnswerWatch | None,
        trace: ActiveTrace,
    ) -> tuple[list[ChatMessage], str]:
        """The messages of the use case's prompt template, and the template's hash."""
        from leitstand.prompts import LANGUAGE_NAMES

        with trace.span("prompt") as span:
            template, prompt_hash = self._template(use_case)
            messages = template.render(
                question=asked,
                sources=numbered,
                language=language,
                language_name=LANGUAGE_NAMES.get(language, language),
                use_case=use_case.name,
                spotlight=guard.settings.spotlight if guard is not None else "delimit",
            )
            if history:
                messages = [*messages[:-1], *history, messages[-1]]
            if watch is not None and watch.canary is not None:
                messages = _with_system_note(messages, watch.system_note())
            span.set(prompt_hash=prompt_hash, messages=len(messages))
        return messages, prompt_hash

    def _options_for(self, options: ChatOptions | None) -> Callable[[str], ChatOptions]:
        def options_for(name: str) -> ChatOptions:
            settings = self.settings.models[name]
            return _merge_options(options, settings.temperature, settings.max_tokens)

        return options_for

    def _model_deltas(
        self,
        questions: tuple[str, str],
        messages: list[ChatMessage],
        numbered: list[SourceRef],
        language: str,
        use_case: ResolvedUseCase,
        options: ChatOptions | None,
        caller: Caller,
        trace: ActiveTrace,
        chosen: list[str],
        restore: Callable[[str], str] | None = None,
    ) -> Iterator[ChatDelta]:
        """The answer's pieces: from the routed model with its fallbacks, or from a cascade.

        ``questions`` is the user's question and what the model was asked (PII pseudonymised);
        ``restore`` puts the placeholders of an answer back.
        """
        question, asked = questions
        router = self._router()
        options_for = self._options_for(options)
        explicit = use_case.model != use_case.settings.model
        cascade = use_case.settings.cascade
        if cascade is not None and not explicit:
            small = router.plan(use_case.settings, RouteContext(0), first=cascade.small)
            small.models = small.models[:1]  # the cascade's own large model is its fallback
            with trace.span("cascade", small=cascade.small, check=cascade.check) as span:
                name, result = router.answer(small, messages, options_for)
                self._meter(
                    trace, use_case.name, caller, name, result.usage, messages, result.content
                )
                decision = self._cascade_check(
                    cascade,
                    (question, asked),
                    (restore(result.content) if restore else result.content, result.content),
                    numbered,
                    language,
                    use_case,
                    caller,
                    trace,
                )
                span.set(**decision.as_dict())
            trace.set(cascade=decision.as_dict())
            if decision.kept:
                chosen.append(name)
                yield ChatDelta(content=result.content, finish_reason="stop")
                return
            plan = router.plan(use_case.settings, RouteContext(0), first=cascade.large)
        else:
            tokens = estimate_prompt_tokens(
                [m.content for m in messages], self.settings.gateway.chars_per_token
            )
            context = RouteContext(
                tokens,
                language,
                caller.team,
                detect_task(question) if use_case.settings.routes else "question",
            )
            plan = router.plan(
                use_case.settings, context, first=use_case.model if explicit else None
            )
        pieces: list[str] = []
        usage: Usage | None = None
        try:
            for delta in router.deltas(plan, messages, options_for, chosen):
                pieces.append(delta.content)
                usage = delta.usage or usage
                yield delta
        finally:
            trace.set(attempts=[a.as_dict() for a in plan.attempts])
        self._meter(trace, use_case.name, caller, chosen[-1], usage, messages, "".join(pieces))

    def _cascade_check(
        self,
        cascade: CascadeSettings,
        questions: tuple[str, str],
        answers: tuple[str, str],
        numbered: list[SourceRef],
        language: str,
        use_case: ResolvedUseCase,
        caller: Caller,
        trace: ActiveTrace,
    ) -> CascadeDecision:
        """Groundedness checks the answer as the user would see it against the sources; a
        verifying or judging model gets question and answer as the small model saw them (with
        placeholders, so no personal data reaches it that the small model did not get)."""
        (question, asked), (answer, answered) = questions, answers
        score: float | None
        if cascade.check == "groundedness":
            checker = self.grounder(use_case.name) or GroundednessChecker(self.analyser)
            report = checker.check(
                answer,
                {source.number: source.text for source in numbered},
                question=question,
                language=language,
                terms={
                    source.number: source.hit.analysed
                    for source in numbered
                    if isinstance(source.hit, Passage) and source.hit.analysed
                },
            )
            score = report.weakest
        else:
            judge = cascade.judge if cascade.check == "judge" and cascade.judge else cascade.small
            score, reply, prompt = score_by_model(self.models.get(judge), asked, answered)
            self._meter(trace, use_case.name, caller, judge, reply.usage, prompt, reply.content)
        kept = score is not None and score >= cascade.threshold
        return CascadeDecision(cascade.check, score, cascade.threshold, kept)

    def _router(self) -> Router:
        if self.router is None:  # an AnswerService used without Leitstand (tests)
            from leitstand.llm.router import Router

            self.router = Router(self.settings.models, self.models.get, self.settings.gateway)
        return self.router

    def _meter(
        self,
        trace: ActiveTrace,
        use_case: str,
        caller: Caller,
        name: str,
        usage: Usage | None,
        messages: Sequence[ChatMessage],
        text: str,
    ) -> None:
        """Tokens and cost of one model call, stored with the trace."""
        metered = meter(
            self.settings.models[name],
            usage,
            [m.content for m in messages],
            text,
            self.settings.gateway.chars_per_token,
        )
        add_usage(
            trace,
            use_case=use_case,
            caller=caller,
            model=name,
            settings=self.settings.models[name],
            metered=metered,
        )

    def close(self) -> None:
        self.models.close()


def _chunk_ids(hits: Sequence[Hit]) -> list[int]:
    """Every chunk behind the passages a model was given (merged passages have several)."""
    ids: list[int] = []
    for hit in hits:
        ids.extend(hit.chunk_ids if isinstance(hit, Passage) and hit.chunk_ids else [hit.chunk_id])
    return ids


def _merge_options(
    options: ChatOptions | None, temperature: float | None, max_tokens: int | None
) -> ChatOptions:
    """The request's options, with the model's configured defaults where it set none."""
    merged = options or ChatOptions()
    if merged.temperature is None and temperature is not None:
        merged = merged.model_copy(update={"temperature": temperature})
    if merged.max_tokens is None and max_tokens is not None:
        merged = merged.model_copy(update={"max_tokens": max_tokens})
    return merged


def _escalate(trace: ActiveTrace, reasons: Sequence[str]) -> None:
    """Mark the trace for a human, keeping the reasons of earlier guards."""
    earlier = trace.attributes.get("escalation") or []
    trace.set(escalated=True, escalation=[*earlier, *reasons])


def _with_system_note(messages: list[ChatMessage], note: str) -> list[ChatMessage]:
    """``note`` appended to the system message (or as one, when the prompt has none)."""
    if messages and messages[0].role == "system":
        return [ChatMessage("system", messages[0].content + note), *messages[1:]]
    return [ChatMessage("system", note.strip()), *messages]
