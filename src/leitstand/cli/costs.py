"""``leitstand costs``: what the model requests cost, per day, use case, key, team or model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from leitstand.cli._common import console, err_console, fail, handle_errors, print_json, state

if TYPE_CHECKING:
    from leitstand.govern.costs import CostRow, Dimension
    from leitstand.store.database import Database

DEFAULT_DAYS = 30
CHART_SERIES = 8
"""Series a chart shows; the cheaper rest is stacked as one "other"."""
CHARTS_HINT = "pip install 'leitstand[charts]'"


def register(app: typer.Typer) -> None:
    app.command("costs")(costs)


@handle_errors
def costs(
    by: Annotated[
        str,
        typer.Option(
            "--by",
            help="Group by these, comma-separated: day, use-case, key, team, model.",
        ),
    ] = "day",
    since: Annotated[
        str | None, typer.Option("--since", help="First UTC day, e.g. 2026-12-01.")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Last UTC day (included); default today.")
    ] = None,
    days: Annotated[
        int | None,
        typer.Option(
            "--days",
            min=1,
            help=f"The last this many days up to --until (default {DEFAULT_DAYS}).",
        ),
    ] = None,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart",
            help="Write a PNG: cost per day as stacked bars, split by the first --by other "
            f"than day (use case by default). Needs matplotlib: {escape(CHARTS_HINT)}.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Cost of the model requests, from the usage the gateway records per request.

    Costs are in gateway.currency, from each model's price_input and price_output (per 1M
    tokens). Where a provider reported no usage, tokens are estimated from the text
    (gateway.chars_per_token); the "estimated" column shows their share. Answers from a
    cache count as requests and cache hits, at the cost recorded for them.
    """
    from leitstand.config.loading import load_config
    from leitstand.govern.costs import cost_report, parse_dimensions, total

    try:
        dimensions = parse_dimensions(by) or ["day"]
    except ValueError as exc:
        raise fail(str(exc)) from None
    first, last = _period(since, until, days)
    if chart is not None:
        _require_matplotlib()
    config = load_config(state.config_path)
    currency = config.settings.gateway.currency
    with _database(config.database_url) as db:
        rows = cost_report(db, by=dimensions, since=first, until=last)
        split: Dimension = next((d for d in dimensions if d != "day"), "use_case")
        daily = cost_report(db, by=["day", split], since=first, until=last) if chart else []
    if chart is not None:
        write_chart(chart, daily, split=split, since=first, until=last, currency=currency)
        (err_console if as_json else console).print(
            f"wrote [bold]{escape(str(chart))}[/]", highlight=False
        )
    if as_json:
        print_json(
            {
                "currency": currency,
                "since": first.isoformat(),
                "until": last.isoformat(),
                "by": list(dimensions),
                "rows": [row.as_dict() for row in rows],
                "total": total(rows).as_dict(),
            }
        )
        return
    console.print(_table(rows, dimensions, first, last, currency))


def _period(since: str | None, until: str | None, days: int | None) -> tuple[date, date]:
    last = _day(until, "--until") if until else datetime.now(UTC).date()
    if since is not None and days is not None:
        raise fail("give --since or --days, not both")
    if since is not None:
        first = _day(since, "--since")
    else:
        first = last - timedelta(days=(days or DEFAULT_DAYS) - 1)
    if first > last:
        raise fail(f"--since {first} is after --until {last}")
    return first, last


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option} {text!r} is not a date", hint="write it as YYYY-MM-DD") from None


@contextmanager
def _database(url: str) -> Iterator[Database]:
    from leitstand.store.database import Database

    db = Database(url)
    try:
        db.migrate()
        yield db
    finally:
        db.dispose()


def _table(
    rows: Sequence[CostRow],
    dimensions: Sequence[Dimension],
    first: date,
    last: date,
    currency: str,
) -> Table:
    from leitstand.govern.costs import total

    table = Table(title=f"Costs {first} – {last} ({currency})", show_footer=bool(rows))
    summed = total(rows)
    for index, name in enumerate(dimensions):
        values = [row.group[name] or "(none)" for row in rows]
        table.add_column(
            name.replace("_", " "),
            footer="total" if index == 0 else "",
            min_width=max(map(len, values), default=0),  # numbers wrap, names stay whole
        )
    figures = [
        ("requests", str(summed.requests)),
        ("prompt tokens", f"{summed.prompt_tokens:,}"),
        ("completion tokens", f"{summed.completion_tokens:,}"),
        (f"cost {currency}", _money(summed.cost)),
        ("estimated", _share(summed.estimated_share)),
        ("cache hits", str(summed.cache_hits)),
    ]
    for header, footer in figures:
        table.add_column(header, footer=footer, justify="right")
    for row in rows:
        table.add_row(
            *(escape(v) if v is not None else "[dim](none)[/]" for v in row.group.values()),
            str(row.requests),
            f"{row.prompt_tokens:,}",
            f"{row.completion_tokens:,}",
            _money(row.cost),
            _share(row.estimated_share),
            str(row.cache_hits),
        )
    if not rows:
        table.caption = "no model requests recorded in this period"
    return table


def _money(value: float) -> str:
    return f"{value:,.4f}"


def _share(value: float) -> str:
    return f"{value:.0%}" if value else "–"


# -- the chart -------------------------------------------------------------------------------


def _require_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise fail("--chart needs matplotlib, which is not installed", hint=CHARTS_HINT) from None


def write_chart(
    path: Path,
    rows: Sequence[CostRow],
    *,
    split: Dimension,
    since: date | None,
    until: date,
    currency: str,
) -> None:
    """A PNG of stacked bars: cost per day (every day of the period), one colour per value
    of ``split``; ``rows`` are grouped by ``["day", split]``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    days = _days(rows, since, until)
    series = _series(rows, split, days)
    label = split.replace("_", " ")
    figure = Figure(figsize=(max(7.0, 0.28 * len(days) + 3.5), 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    positions = list(range(len(days)))
    bottom = [0.0] * len(days)
    for name, values in series.items():
        axes.bar(positions, values, bottom=bottom, label=name, width=0.8)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    step = max(1, len(days) // 15)
    axes.set_xticks(positions[::step], [d[5:] for d in days[::step]], rotation=45, ha="right")
    axes.set_xlim(-0.6, len(days) - 0.4)
    axes.set_xlabel("day (UTC)")
    axes.set_ylabel(f"cost ({currency})")
    axes.set_title(f"Cost per day by {label}, {days[0]} – {days[-1]}")
    axes.grid(axis="y", alpha=0.3)
    axes.set_axisbelow(True)
    if series:  # top to bottom, as the bars are stacked
        handles, labels = axes.get_legend_handles_labels()
        figure.legend(
            handles[::-1], labels[::-1], title=label, fontsize="small", loc="outside right upper"
        )
    else:
        axes.text(0.5, 0.5, "no model requests", transform=axes.transAxes, ha="center")
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png")


def _days(rows: Sequence[CostRow], since: date | None, until: date) -> list[str]:
    recorded = sorted({str(row.group["day"]) for row in rows})
    first = since or (date.fromisoformat(recorded[0]) if recorded else until)
    count = (until - first).days + 1
    return [(first + timedelta(days=offset)).isoformat() for offset in range(count)]


def _series(rows: Sequence[CostRow], split: Dimension, days: list[str]) -> dict[str, list[float]]:
    """Cost per day for each value of split, dearest first; beyond CHART_SERIES, "other"."""
    index = {day: position for position, day in enumerate(days)}
    by_name: dict[str, list[float]] = {}
    for row in rows:
        value = row.group.get(split)
        name = value if value is not None else "(none)"
        position = index.get(str(row.group["day"]))
        if position is not None:
            by_name.setdefault(name, [0.0] * len(days))[position] += row.cost
    ranked = sorted(by_name.items(), key=lambda item: -sum(item[1]))
    series = dict(ranked[:CHART_SERIES])
    rest = ranked[CHART_SERIES:]
    if rest:
        series["other"] = [sum(values[i] for _, values in rest) for i in range(len(days))]
    return series
