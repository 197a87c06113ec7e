"""``leitstand models``: the configured chat models, their prices, and whether they answer."""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from leitstand._version import __version__
from leitstand.cli._common import console, handle_errors, print_json, state
from leitstand.config.settings import ModelSettings, Settings
from leitstand.errors import SecretNotFoundError

if TYPE_CHECKING:
    import httpx

CHECK_TIMEOUT_S = 5.0
PROBE_PROMPT = "ping"


def register(app: typer.Typer) -> None:
    app.command("models")(models)


@dataclass(frozen=True)
class ModelCheck:
    """Whether a model's endpoint answered, how fast, and what went wrong if not."""

    ok: bool
    detail: str
    """"ok", or what happened in plain words (connection refused, key rejected (401), ...)."""
    latency_ms: float | None = None
    listed: bool | None = None
    """Whether ``GET /models`` lists the configured model; None where not asked (Azure)."""


@handle_errors
def models(
    check: Annotated[
        bool,
        typer.Option("--check/--no-check", help="Check that each model's endpoint answers."),
    ] = True,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for each endpoint.")
    ] = CHECK_TIMEOUT_S,
    as_json: Annotated[bool, typer.Option("--json", help="Print the models as JSON.")] = False,
) -> None:
    """List the configured chat models and check that each one is reachable.

    OpenAI-compatible endpoints are asked GET {base_url}/models with the model's key and
    headers, which costs nothing; a model missing from that list is shown as a warning.
    Azure OpenAI deployments have no such list: they are sent a chat completion of one
    token (max_tokens 1) to the deployment URL with the api-version and the api-key
    header. All models are checked at once; the exit code is 1 when one of them does not
    answer, refuses its key or has no key set.
    """
    from leitstand.config.loading import load_config

    settings = load_config(state.config_path).settings
    checks = check_models(settings.models, timeout_s=timeout) if check else {}
    if as_json:
        print_json([_as_json(name, settings, checks.get(name)) for name in settings.models])
    elif not settings.models:
        console.print(
            "no chat models configured: answers are extractive. Add one under [bold]models:[/] "
            "in leitstand.yaml (see docs/configuration.md).",
            highlight=False,
        )
    else:
        console.print(_table(settings, checks))
        _print_problems(checks)
    if any(not result.ok for result in checks.values()):
        raise typer.Exit(1)


def _use_cases(settings: Settings, model: str) -> list[str]:
    return [
        name for name, use_case in settings.use_cases.items() if model in use_case.models_used()
    ]


def _as_json(name: str, settings: Settings, check: ModelCheck | None) -> dict[str, Any]:
    model = settings.models[name]
    return {
        "name": name,
        "provider": model.provider,
        "model": model.model,
        "base_url": model.base_url,
        "price_input": model.price_input,
        "price_output": model.price_output,
        "currency": settings.gateway.currency,
        "context_window": model.context_window,
        "capabilities": list(model.capabilities),
        "use_cases": _use_cases(settings, name),
        "check": asdict(check) if check is not None else None,
    }


def _table(settings: Settings, checks: Mapping[str, ModelCheck]) -> Table:
    table = Table("model", "provider", "provider model")
    table.add_column(f"{settings.gateway.currency} / 1M in, out", justify="right")
    table.add_column("context", justify="right")
    table.add_column("capabilities")
    table.add_column("use cases")
    if checks:
        table.add_column("check")
    for name, model in settings.models.items():
        cells = [
            escape(name),
            escape(model.provider),
            escape(model.model),
            f"{model.price_input:g}, {model.price_output:g}",
            f"{model.context_window:,}" if model.context_window else "",
            ", ".join(model.capabilities),
            escape(", ".join(_use_cases(settings, name))) or "[dim]none[/]",
        ]
        if checks:
            cells.append(_status(checks[name]))
        table.add_row(*cells)
    return table


def _status(check: ModelCheck) -> str:
    if not check.ok:
        return "[red]failed[/]"
    latency = f" {check.latency_ms:.0f} ms" if check.latency_ms is not None else ""
    return f"[green]ok[/]{latency}" + ("" if check.detail == "ok" else " [yellow]![/]")


def _print_problems(checks: Mapping[str, ModelCheck]) -> None:
    """What went wrong (or is odd) per model, in full, below the table."""
    for name, check in checks.items():
        if check.detail == "ok":
            continue
        mark = "[yellow]![/]" if check.ok else "[red]✗[/]"
        console.print(
            f"{mark} [bold]{escape(name)}[/]: {escape(check.detail)}",
            highlight=False,
            soft_wrap=True,
        )


# -- the checks ------------------------------------------------------------------------------


def check_models(
    models: Mapping[str, ModelSettings], *, timeout_s: float = CHECK_TIMEOUT_S
) -> dict[str, ModelCheck]:
    """Check every model's endpoint at once; by model name, in the order given."""
    import httpx

    async def run_all() -> list[ModelCheck]:
        async with httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            headers={"user-agent": f"leitstand/{__version__}"},
        ) as client:
            return await asyncio.gather(
                *(check_model(name, model, client) for name, model in models.items())
            )

    if not models:
        return {}
    return dict(zip(models, asyncio.run(run_all()), strict=True))


async def check_model(name: str, model: ModelSettings, client: httpx.AsyncClient) -> ModelCheck:
    """One model: GET /models (OpenAI-compatible) or a one-token chat completion (Azure)."""
    import httpx

    try:
        headers = {**model.headers, **_auth(model)}
    except SecretNotFoundError as exc:
        return ModelCheck(False, f"no API key: {exc.message} (models.{name}.api_key)")
    azure = model.provider == "azure"
    started = time.perf_counter()
    try:
        if azure:
            response = await client.post(
                f"{model.base_url}/chat/completions",
                params={"api-version": model.api_version or ""},
                json={"messages": [{"role": "user", "content": PROBE_PROMPT}], "max_tokens": 1},
                headers=headers,
            )
        else:
            response = await client.get(f"{model.base_url}/models", headers=headers)
    except httpx.HTTPError as exc:
        return ModelCheck(False, _network_problem(exc, client.timeout.read))
    latency_ms = (time.perf_counter() - started) * 1000
    if azure:
        return _azure_result(name, response, latency_ms)
    return _models_result(name, model, response, latency_ms)


def _auth(model: ModelSettings) -> dict[str, str]:
    if model.api_key is None:
        return {}
    key = model.api_key.resolve()
    return {"api-key": key} if model.provider == "azure" else {"authorization": f"Bearer {key}"}


def _models_result(
    name: str, model: ModelSettings, response: httpx.Response, latency_ms: float
) -> ModelCheck:
    if response.status_code != 200:
        return _refused(name, model, response, what="/models")
    try:
        listed_ids = [str(entry["id"]) for entry in response.json()["data"]]
    except (ValueError, KeyError, TypeError):
        return ModelCheck(
            False,
            "answered, but not with an OpenAI model list: check base_url (it usually ends in /v1)",
            latency_ms,
        )
    # Ollama lists "llama3.1:latest" for a model configured as "llama3.1".
    listed = model.model in listed_ids or f"{model.model}:latest" in listed_ids
    if listed:
        return ModelCheck(True, "ok", latency_ms, listed=True)
    shown = ", ".join(listed_ids[:5]) + (", …" if len(listed_ids) > 5 else "")
    return ModelCheck(
        True,
        f"{model.model} is not in its /models list ({shown or 'empty'})",
        latency_ms,
        listed=False,
    )


def _azure_result(name: str, response: httpx.Response, latency_ms: float) -> ModelCheck:
    status = response.status_code
    if status == 200:
        return ModelCheck(True, "ok", latency_ms)
    if status in (400, 429):
        # The deployment exists and took the key; it only disliked the test request or the rate.
        said = _provider_message(response)
        return ModelCheck(True, f"answered HTTP {status}{said}", latency_ms)
    if status == 404:
        return ModelCheck(
            False,
            f"deployment or api-version not found (HTTP 404){_provider_message(response)}: "
            "base_url must be https://<resource>.openai.azure.com/openai/deployments/<deployment>",
            latency_ms,
        )
    return _refused(name, None, response, what="the deployment")


def _refused(
    name: str, model: ModelSettings | None, response: httpx.Response, *, what: str
) -> ModelCheck:
    status = response.status_code
    if status == 401 and model is not None and model.api_key is None:
        return ModelCheck(False, f"needs an API key (HTTP 401): set models.{name}.api_key")
    said = _provider_message(response)
    if status == 429:  # the key was accepted; the endpoint is only busy
        return ModelCheck(True, f"rate limited (HTTP 429){said}")
    if status == 404:
        said = ": check base_url (it usually ends in /v1)"
    words = {401: "key rejected", 403: "access denied", 404: f"{what} not found"}
    problem = words.get(status) or ("server error" if status >= 500 else "refused")
    return ModelCheck(False, f"{problem} (HTTP {status}){said}")


def _provider_message(response: httpx.Response) -> str:
    from leitstand.llm.openai_compatible import provider_message

    text = provider_message(response).strip()
    return f": {text[:200]}" if text else ""


def _network_problem(exc: httpx.HTTPError, timeout_s: float | None) -> str:
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout_s:g} s" if timeout_s else "timed out"
    causes = list(_causes(exc))
    if any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return "connection refused: is the server running, and is the port right?"
    if any(isinstance(cause, socket.gaierror) for cause in causes):
        return "host not found: check the host name in base_url"
    tls = next((cause for cause in causes if isinstance(cause, ssl.SSLError)), None)
    if tls is not None:
        return f"TLS error: {tls}"
    text = str(exc)
    return f"cannot connect: {text}" if text else f"cannot connect ({type(exc).__name__})"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
