"""Multi-query and HyDE through the use case's chat model (a ScriptedChatServer over HTTP)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import write_files
from leitstand.search.rewrite import parse_passage, parse_queries
from leitstand.testing import ScriptedChatServer

DOCS = {
    # The question's own words find this one ...
    "feiertage.md": "An gesetzlichen Feiertagen bleiben die Büros geschlossen; freie Tage "
    "gibt es auch am 24. Dezember.",
    # ... and only the words a document would use find this one.
    "urlaub.md": "Urlaubsanträge stellen Sie im Personalportal; die Vorgesetzte genehmigt sie "
    "innerhalb einer Woche.",
    "en/leave.md": "Holiday requests are filed in the staff portal and approved by your manager.",
    "garten.md": "Im Garten wachsen Tomaten, Bohnen und Kürbisse neben dem Zaun.",
    "kueche.md": "Die Küche bekommt einen neuen Herd und eine größere Spüle.",
    "musik.md": "Das Orchester probt jeden Donnerstag im Saal der Musikschule.",
    "wetter.md": "Morgen ziehen Gewitter auf, am Wochenende wird es wieder sonnig.",
}
QUESTION = "Wie bekomme ich freie Tage?"
QUERIES = "1. Urlaubsantrag stellen\n2. Urlaub im Personalportal beantragen\n3. Urlaub genehmigen"
PASSAGE = (
    "Urlaub beantragen Mitarbeitende über einen Urlaubsantrag im Personalportal. Die "
    "Vorgesetzte genehmigt ihn."
)
ANSWER = "Das steht in den Quellen [1]."


@pytest.fixture(scope="module")
def model_server() -> Iterator[ScriptedChatServer]:
    with ScriptedChatServer() as server:
        yield server


def _open(
    tmp_path: Path, database_url: str, open_leitstand: Any, server: ScriptedChatServer, kind: str
) -> Any:
    server.reset()
    ls = open_leitstand(
        database_url,
        retrieval={"expansion": kind},
        models={"scripted": {"base_url": server.url, "model": "m", "max_retries": 0}},
        use_cases={"chat": {"model": "scripted"}, "offline": {"model": "extractive"}},
        default_use_case="chat",
    )
    ls.ingest(write_files(tmp_path / "docs", DOCS))
    return ls


@pytest.fixture
def multi_query(
    tmp_path: Path, database_url: str, open_leitstand: Any, model_server: ScriptedChatServer
) -> Any:
    return _open(tmp_path, database_url, open_leitstand, model_server, "multi-query")


@pytest.fixture
def hyde(
    tmp_path: Path, database_url: str, open_leitstand: Any, model_server: ScriptedChatServer
) -> Any:
    return _open(tmp_path, database_url, open_leitstand, model_server, "hyde")


def _rewrite_span(ls: Any, trace_id: str) -> Any:
    ls.tracer.flush()
    return next(s for s in ls.traces.get(trace_id).spans if s.name == "rewrite")


def _sources(answer: Any) -> list[str]:
    return [source.hit.path for source in answer.sources]


def _given_to_the_model(server: ScriptedChatServer) -> set[str]:
    """The documents whose text the answering request (the last one) carried."""
    prompt = "\n".join(m["content"] for m in server.requests[-1].body["messages"])
    prompt = prompt.replace("ˆ", " ")  # the sources' words are datamarked
    return {path for path, text in DOCS.items() if text[:40] in prompt}


@pytest.mark.integration
def test_the_question_alone_misses_the_document_in_other_words(multi_query: Any) -> None:
    # The baseline the rewrites improve on: no model here, so no rewriting.
    found = [hit.path for hit in multi_query.search(QUESTION, k=10).hits]
    assert "feiertage.md" in found
    assert "urlaub.md" not in found


@pytest.mark.integration
def test_multi_query_rewrites_are_searched_and_fused(
    multi_query: Any, model_server: ScriptedChatServer
) -> None:
    model_server.enqueue(QUERIES)
    model_server.enqueue(ANSWER)
    answer = multi_query.ask(QUESTION)
    assert answer.text == ANSWER
    [rewrite, _generate] = model_server.requests
    system, user = rewrite.body["messages"]
    assert system["role"] == "system" and user["content"] == QUESTION
    assert system["content"].startswith("Du hilfst einer Suchmaschine")  # German for German
    assert "3 unterschiedliche Suchanfragen" in system["content"]
    # What only the rewrites' vocabulary finds reaches the model, next to the question's.
    assert {"urlaub.md", "feiertage.md"} <= _given_to_the_model(model_server)
    span = _rewrite_span(multi_query, answer.trace_id)
    assert span.attributes["kind"] == "multi-query"
    assert span.attributes["queries"] == [
        "Urlaubsantrag stellen",
        "Urlaub im Personalportal beantragen",
        "Urlaub genehmigen",
    ]


@pytest.mark.integration
def test_an_english_question_gets_an_english_prompt(
    multi_query: Any, model_server: ScriptedChatServer
) -> None:
    model_server.enqueue("holiday request\nstaff portal leave approval")
    model_server.enqueue(ANSWER)
    multi_query.ask("How do I get days off work?")
    system = model_server.requests[0].body["messages"][0]["content"]
    assert system.startswith("You help a search engine")
    assert "Write in English" in system
    assert "en/leave.md" in _given_to_the_model(model_server)


@pytest.mark.integration
def test_hyde_searches_with_the_hypothetical_passage(
    hyde: Any, model_server: ScriptedChatServer
) -> None:
    model_server.enqueue(f"„{PASSAGE}“")
    model_server.enqueue(ANSWER)
    answer = hyde.ask(QUESTION)
    system = model_server.requests[0].body["messages"][0]["content"]
    assert system.startswith("Schreibe einen kurzen Absatz")
    assert {"urlaub.md", "feiertage.md"} <= _given_to_the_model(model_server)
    assert _rewrite_span(hyde, answer.trace_id).attributes["queries"] == [PASSAGE]


@pytest.mark.integration
@pytest.mark.parametrize("trouble", ["error", "no queries", "only the question"])
def test_a_failed_rewrite_searches_the_plain_question_and_says_so(
    multi_query: Any, model_server: ScriptedChatServer, trouble: str
) -> None:
    if trouble == "error":
        model_server.enqueue_error(500, "kaputt")
    elif trouble == "no queries":
        model_server.enqueue("Hier sind drei Suchanfragen:\n\n")
    else:
        model_server.enqueue(f"1. {QUESTION}\n2. wie bekomme ich freie tage")
    model_server.enqueue(ANSWER)
    answer = multi_query.ask(QUESTION)
    assert answer.text == ANSWER  # the answer still comes
    given = _given_to_the_model(model_server)
    assert "feiertage.md" in given
    assert "urlaub.md" not in given
    skipped = _rewrite_span(multi_query, answer.trace_id).attributes["skipped"]
    assert skipped.startswith("the question is searched as it is")
    assert ("model failed" if trouble == "error" else "holds no multi-query text") in skipped


@pytest.mark.integration
def test_an_empty_hyde_passage_falls_back(hyde: Any, model_server: ScriptedChatServer) -> None:
    model_server.enqueue("  \n ")
    model_server.enqueue(ANSWER)
    answer = hyde.ask(QUESTION)
    assert "urlaub.md" not in _given_to_the_model(model_server)
    skipped = _rewrite_span(hyde, answer.trace_id).attributes["skipped"]
    assert "holds no hyde text" in skipped


@pytest.mark.integration
def test_an_extractive_use_case_searches_without_rewriting(
    multi_query: Any, model_server: ScriptedChatServer
) -> None:
    answer = multi_query.ask(QUESTION, use_case="offline")
    assert model_server.requests == []
    assert "feiertage.md" in _sources(answer)
    skipped = _rewrite_span(multi_query, answer.trace_id).attributes["skipped"]
    assert skipped.startswith("no chat model: the use case answers extractively")


@pytest.mark.unit
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("- Urlaub\n- Urlaubsantrag\n", ["Urlaub", "Urlaubsantrag"]),
        ('["Urlaub", "Urlaubsantrag", "Urlaub"]', ["Urlaub", "Urlaubsantrag"]),
        ("Hier sind die Anfragen:\n1) „Urlaub“\n2. Resturlaub?", ["Urlaub", "Resturlaub?"]),
        ("```\nUrlaub\n```", ["Urlaub"]),
        ("Freie Tage?\nA\nB\nC\nD", ["A", "B", "C"]),  # the question left out, three at most
    ],
)
def test_queries_are_read_from_the_shapes_models_reply_in(reply: str, expected: list[str]) -> None:
    assert parse_queries(reply, "freie tage", 3) == expected


@pytest.mark.unit
def test_a_passage_is_one_text_without_fences_and_quotes() -> None:
    assert parse_passage('```\n"Urlaub wird\n  beantragt."\n```') == ["Urlaub wird beantragt."]
    assert parse_passage(" ``` ") == []
    assert len(parse_passage("Wort " * 1000)[0]) == 1500
