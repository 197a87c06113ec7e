"""Latency that leitstand's own request path adds, excluding retrieval and the model.

A ScriptedChatServer (real OpenAI-compatible HTTP, in this process) stands in for the model;
``leitstand serve`` runs as a child process over the seed articles and answers through it.
The model answers every request with the same ~55-word German answer, streamed word by word
as a model would. Five kinds of request are interleaved, one of each per round, rotating:

- ``leitstand``: a question to leitstand's ``/v1/chat/completions`` (non-streaming);
- ``direct``: the baseline peer, the very body leitstand sent to the model for that question
  (prompt with sources), straight to the scripted model server, non-streaming;
- ``direct_stream``: the same body streamed, as leitstand's model client asks for it;
- ``bare_fastapi``: the same request to a bare FastAPI app on uvicorn (a sync endpoint, as
  leitstand's) that parses the body and returns a copy of a leitstand response: the floor of
  any FastAPI service on this machine;
- ``healthz``: leitstand's ``/healthz``, an HTTP round trip to the leitstand process itself.

For each leitstand request the trace's spans are read back from the database afterwards
(traces are written asynchronously), and ``own = client total - retrieve - generate``
(the budget's figure; it includes the HTTP round trip). Its parts: ``in_process`` is the
trace's duration minus those spans (use case, prompt, trace bookkeeping) and ``http_layer``
the client total minus the trace's duration (HTTP, validation, JSON, thread hand-offs).
``own_above_bare_fastapi`` is own minus the bare FastAPI round trip of the same round.

    .venv/bin/python bench/request_latency.py [--quick] [--requests N]
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from _common import (
    SEEDS,
    bare_fastapi,
    leitstand_serve,
    parser,
    ratio,
    scripted_model_server,
    summary,
    write_result,
)
from leitstand import Leitstand
from leitstand.errors import NotFoundError

QUESTIONS = [
    "Welche Vektor-Datenbanken werden genannt?",
    "Was macht ein KI-Manager im Unternehmen?",
    "Welche Kompetenzen braucht der Mittelstand für KI?",
    "Was gehört zu LLMOps?",
    "Welche Rolle spielt der EU AI Act?",
    "Was ist ein AI Operations Expert?",
    "Wie integrieren Entwickler Sprachmodelle über APIs?",
    "Wozu dient ein Multi-Model-Router mit Caching?",
    "Was bedeutet die DSGVO für KI-Anwendungen?",
    "Wie werden Prompts versioniert und evaluiert?",
]
BUDGET_P50_MS = 1.0
BUDGET_P99_MS = 5.0
WARM_UP = 30


def write_config(folder: Path, model_url: str) -> Path:
    config = folder / "leitstand.yaml"
    settings = {
        "data_dir": "data",
        "log_level": "warning",
        "embeddings": {"provider": "none"},  # the budget excludes retrieval; keep it lexical
        "models": {"scripted": {"base_url": model_url, "model": "scripted-model"}},
        "use_cases": {"default": {"model": "scripted"}},
    }
    config.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return config


REPLY = (
    "Laut den Dokumenten werden für Retrieval-Augmented Generation Vektor-Datenbanken wie "
    "Pinecone, Weaviate, Qdrant und pgvector eingesetzt [1]. Ergänzend nennen die Quellen "
    "Frameworks wie LangChain und LlamaIndex sowie Werkzeuge für Monitoring und Tracing im "
    "Betrieb [2]. Für den produktiven Einsatz empfehlen sie Caching, versionierte Prompts und "
    "eine Evaluations-Suite mit Regressionstests, bevor eine Änderung live geht [1][3]."
)
KINDS = ("direct", "direct_stream", "leitstand", "bare_fastapi", "healthz")


class Rounds:
    """One client per server; the model payloads are the ones leitstand itself sent."""

    def __init__(self, model: Any, serve_url: str) -> None:
        self.model = model
        self.serve_url = serve_url
        self.bare_url = ""
        self.model_client = httpx.Client(timeout=30.0)
        self.ls_client = httpx.Client(timeout=30.0)
        self.bare_client = httpx.Client(timeout=30.0)
        self.payloads: dict[str, dict[str, Any]] = {}

    def close(self) -> None:
        self.model_client.close()
        self.ls_client.close()
        self.bare_client.close()

    def capture(self) -> dict[str, Any]:
        """Ask each question once through leitstand; keep the body it sent to the model.

        Returns leitstand's last response, for the bare FastAPI peer to send back.
        """
        response: dict[str, Any] = {}
        for question in QUESTIONS:
            _, response = self.leitstand(question)
            sent = self.model.requests[-1].body
            self.payloads[question] = {**sent, "stream": False}
            self.payloads[question].pop("stream_options", None)
        return response

    def leitstand(self, question: str, url: str = "") -> tuple[float, dict[str, Any]]:
        payload = {"model": "default", "messages": [{"role": "user", "content": question}]}
        client = self.bare_client if url else self.ls_client
        started = time.perf_counter()
        response = client.post(f"{url or self.serve_url}/v1/chat/completions", json=payload)
        elapsed = (time.perf_counter() - started) * 1000
        response.raise_for_status()
        return elapsed, response.json()

    def direct(self, question: str, *, stream: bool) -> float:
        url = f"{self.model.url}/chat/completions"
        payload = self.payloads[question]
        started = time.perf_counter()
        if stream:
            payload = {**payload, "stream": True, "stream_options": {"include_usage": True}}
            with self.model_client.stream("POST", url, json=payload) as response:
                response.raise_for_status()
                for _ in response.iter_lines():
                    pass
        else:
            self.model_client.post(url, json=payload).raise_for_status()
        return (time.perf_counter() - started) * 1000

    def healthz(self) -> float:
        started = time.perf_counter()
        self.ls_client.get(f"{self.serve_url}/healthz").raise_for_status()
        return (time.perf_counter() - started) * 1000

    def run(self, rounds: int) -> tuple[dict[str, list[float]], list[tuple[str, float]]]:
        """``rounds`` rounds of every kind of request, in a rotating order."""
        totals: dict[str, list[float]] = {kind: [] for kind in KINDS}
        traced: list[tuple[str, float]] = []
        for number in range(rounds):
            question = QUESTIONS[number % len(QUESTIONS)]
            shift = number % len(KINDS)
            for kind in KINDS[shift:] + KINDS[:shift]:
                if kind == "leitstand":
                    elapsed, answer = self.leitstand(question)
                    traced.append((answer["leitstand"]["trace_id"], elapsed))
                elif kind == "bare_fastapi":
                    elapsed, _ = self.leitstand(question, self.bare_url)
                elif kind == "healthz":
                    elapsed = self.healthz()
                else:
                    elapsed = self.direct(question, stream=kind == "direct_stream")
                totals[kind].append(elapsed)
        return totals, traced


def read_spans(config: Path, traced: list[tuple[str, float]]) -> list[dict[str, float]]:
    """The spans of every traced request; waits for the server's asynchronous writer."""
    rows: list[dict[str, float]] = []
    with Leitstand.open(config) as ls:
        for trace_id, total in traced:
            deadline = time.monotonic() + 30
            while True:
                try:
                    view = ls.traces.get(trace_id)
                    break
                except NotFoundError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            spans = {span.name: span.duration_ms for span in view.spans}
            retrieve = spans.get("retrieve", 0.0)
            generate = spans.get("generate", 0.0)
            rows.append(
                {
                    "total": total,
                    "retrieve": retrieve,
                    "prompt": spans.get("prompt", 0.0),
                    "generate": generate,
                    "trace": view.summary.duration_ms,
                    "own": total - retrieve - generate,
                    "in_process": view.summary.duration_ms - retrieve - generate,
                    "http_layer": total - view.summary.duration_ms,
                }
            )
    return rows


def main() -> None:
    args = parser(__doc__.splitlines()[0])
    args.add_argument("--requests", type=int, help="measured requests (default 300, quick 60)")
    options = args.parse_args()
    requests = options.requests or (60 if options.quick else 300)
    with (
        tempfile.TemporaryDirectory(prefix="lsbench-latency-") as tmp,
        scripted_model_server(REPLY) as model,
    ):
        config = write_config(Path(tmp), model.url)
        with Leitstand.open(config) as ls:
            report = ls.ingest(SEEDS, source="seeds")
        print(f"indexed {report.chunks_written} chunks from {SEEDS}")
        with leitstand_serve(config) as serve:
            print(f"leitstand serve ready after {serve.ready_after_s:.2f} s")
            rounds = Rounds(model, serve.url)
            try:
                sample = rounds.capture()
                with bare_fastapi(Path(tmp) / "bare", sample) as bare:
                    rounds.bare_url = bare.url
                    rounds.run(WARM_UP)
                    totals, traced = rounds.run(requests)
            finally:
                rounds.close()
            rows = read_spans(config, traced)
    columns = {key: [row[key] for row in rows] for key in rows[0]}
    own = summary(columns["own"])
    result_in_process = summary(columns["in_process"])
    # Paired per round: what leitstand's own path adds above a bare FastAPI round trip.
    above = [row["own"] - bare for row, bare in zip(rows, totals["bare_fastapi"], strict=True)]
    direct = summary(totals["direct"])
    result = {
        "quick": options.quick,
        "requests": requests,
        "warm_up": WARM_UP,
        "corpus": {"folder": "shared/seeds", "chunks": report.chunks_written},
        "bytes": {
            "leitstand_response": len(json.dumps(sample, ensure_ascii=False).encode()),
            "model_request": len(json.dumps(rounds.payloads[QUESTIONS[0]]).encode()),
            "model_reply_words": len(REPLY.split()),
        },
        "ms": {
            "direct_model_call": direct,
            "direct_model_call_stream": summary(totals["direct_stream"]),
            "leitstand_total": summary(columns["total"]),
            "leitstand_own": own,
            "retrieve_span": summary(columns["retrieve"]),
            "generate_span": summary(columns["generate"]),
            "prompt_span": summary(columns["prompt"]),
            "own_in_process": result_in_process,
            "own_http_layer": summary(columns["http_layer"]),
            "bare_fastapi_round_trip": summary(totals["bare_fastapi"]),
            "own_above_bare_fastapi": summary(above),
            "healthz_round_trip": summary(totals["healthz"]),
        },
        "ratios": {
            "leitstand_total_vs_direct_p50": ratio(
                summary(columns["total"])["p50"], direct["p50"], 2
            ),
            "generate_span_vs_direct_stream_p50": ratio(
                summary(columns["generate"])["p50"], summary(totals["direct_stream"])["p50"], 2
            ),
        },
        "budget": {
            "own_p50_ms": BUDGET_P50_MS,
            "own_p99_ms": BUDGET_P99_MS,
            "p50_holds": own["p50"] <= BUDGET_P50_MS,
            "p99_holds": own["p99"] <= BUDGET_P99_MS,
            "in_process_p50_holds": result_in_process["p50"] <= BUDGET_P50_MS,
            "in_process_p99_holds": result_in_process["p99"] <= BUDGET_P99_MS,
        },
    }
    for name, stats in result["ms"].items():
        print(f"  {name:22} p50 {stats['p50']:8.3f} ms   p99 {stats['p99']:8.3f} ms")
    write_result("request_latency", result, options.out)


if __name__ == "__main__":
    main()
