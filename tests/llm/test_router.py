"""Routing rules, the circuit breaker, and Azure OpenAI's request shape."""

from __future__ import annotations

import pytest

from leitstand.config.settings import (
    GatewaySettings,
    ModelSettings,
    RouteRule,
    Settings,
    UseCaseSettings,
)
from leitstand.errors import ModelError
from leitstand.llm.openai_compatible import OpenAICompatibleChat
from leitstand.llm.router import (
    CircuitBreaker,
    RouteContext,
    Router,
    choose_model,
    detect_task,
    should_fall_back,
)
from leitstand.testing import ScriptedChatServer


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "task"),
    [
        ("Schreib mir eine Python-Funktion für Primzahlen", "code"),
        ("```sql\nSELECT 1\n```", "code"),
        ("Übersetze das bitte ins Englische", "translate"),
        ("Translate this e-mail to German", "translate"),
        ("Fass den Vertrag in drei Sätzen zusammen", "summarise"),
        ("Please summarise the meeting notes", "summarise"),
        ("Extrahiere alle Rechnungsnummern als JSON", "extract"),
        ("Wie lange gilt die Garantie?", "question"),
    ],
)
def test_detect_task(text: str, task: str) -> None:
    assert detect_task(text) == task


@pytest.mark.unit
def test_the_first_matching_rule_picks_the_model() -> None:
    use_case = UseCaseSettings(
        model="small",
        routes=[
            RouteRule(model="legal", teams=["recht"]),
            RouteRule(model="large", min_input_tokens=2000),
            RouteRule(model="coder", tasks=["code"], languages=["en"]),
        ],
    )
    assert choose_model(use_case, RouteContext(100, team="recht")) == ("legal", 0)
    assert choose_model(use_case, RouteContext(5000, team="vertrieb")) == ("large", 1)
    assert choose_model(use_case, RouteContext(10, "en", task="code")) == ("coder", 2)
    assert choose_model(use_case, RouteContext(10, "de", task="code")) == ("small", None)


@pytest.mark.unit
def test_settings_reject_a_route_to_an_unknown_model() -> None:
    with pytest.raises(ValueError, match="names the model 'gross'"):
        Settings.model_validate(
            {
                "models": {"klein": {"base_url": "http://x/v1", "model": "m"}},
                "use_cases": {"default": {"model": "klein", "fallbacks": ["gross"]}},
            }
        )


@pytest.mark.unit
def test_the_circuit_opens_after_failures_in_a_row_and_half_opens_after_the_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failures=3, cooldown_s=10, clock=lambda: now[0])
    for _ in range(2):
        breaker.failure("p")
    breaker.success("p")  # a success resets the count
    for _ in range(2):
        breaker.failure("p")
    assert breaker.allow("p")
    breaker.failure("p")
    assert breaker.state("p") == "open"
    assert not breaker.allow("p")
    now[0] = 10.5
    assert breaker.allow("p")  # one trial
    assert not breaker.allow("p")
    breaker.failure("p")  # the trial failed: open again for a cooldown
    assert not breaker.allow("p")
    now[0] = 21.0
    assert breaker.allow("p")
    breaker.success("p")
    assert breaker.state("p") == "closed"


@pytest.mark.unit
def test_which_errors_fall_back() -> None:
    assert should_fall_back(ModelError("x", status_code=503))
    assert should_fall_back(ModelError("x", status_code=429))
    assert should_fall_back(ModelError("x"))  # no status: connection or timeout
    assert should_fall_back(ModelError("x", status_code=400, content_filter=True))
    assert not should_fall_back(ModelError("x", status_code=400))
    assert not should_fall_back(ModelError("x", status_code=404))


@pytest.mark.integration
def test_an_open_circuit_skips_the_provider() -> None:
    with ScriptedChatServer() as down, ScriptedChatServer() as up:
        models = {
            "a": ModelSettings(base_url=down.url, model="a", max_retries=0),
            "b": ModelSettings(base_url=up.url, model="b", max_retries=0),
        }
        pool = {name: OpenAICompatibleChat(name, s) for name, s in models.items()}
        router = Router(
            models, pool.__getitem__, GatewaySettings(circuit_failures=2, circuit_cooldown_s=60)
        )
        use_case = UseCaseSettings(model="a", fallbacks=["b"])
        body = {"messages": [{"role": "user", "content": "Hallo"}]}
        try:
            for _ in range(2):
                down.enqueue_error(500)
                name, _result = router.complete(router.plan(use_case, RouteContext(5)), body)
                assert name == "b"
            plan = router.plan(use_case, RouteContext(5))
            name, _result = router.complete(plan, body)
            assert name == "b"
            assert plan.attempts[0].outcome == "skipped: circuit open"
            assert len(down.requests) == 2  # the third request did not go to the failing one
        finally:
            for model in pool.values():
                model.close()


@pytest.mark.integration
def test_azure_deployments_get_the_api_version_and_the_api_key_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "geheim")
    with ScriptedChatServer() as server:
        settings = ModelSettings.model_validate(
            {
                "provider": "azure",
                "base_url": f"{server.url}/openai/deployments/gpt-4o-mini",
                "model": "gpt-4o-mini",
                "api_version": "2024-10-21",
                "api_key": {"$env": "AZURE_OPENAI_API_KEY"},
            }
        )
        with OpenAICompatibleChat("azure", settings) as chat:
            chat.forward({"messages": [{"role": "user", "content": "Hallo"}]})
    request = server.requests[-1]
    assert request.path.endswith("/openai/deployments/gpt-4o-mini/chat/completions")
    assert request.query == {"api-version": "2024-10-21"}
    assert request.headers["api-key"] == "geheim"
    assert "authorization" not in request.headers


@pytest.mark.unit
def test_azure_needs_an_api_version() -> None:
    with pytest.raises(ValueError, match="api_version"):
        ModelSettings(provider="azure", base_url="https://x.openai.azure.com", model="m")
