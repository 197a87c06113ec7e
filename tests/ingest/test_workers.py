"""Parsing in worker processes: every file comes back once, a stuck file is stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from leitstand.ingest import workers
from leitstand.ingest.parse import ParseOptions
from leitstand.ingest.workers import FileProcessor, ParseTask, _after_timeout, _start_clocks


def _task(path: Path) -> ParseTask:
    return ParseTask(str(path), path.name, 0, None, False)


@pytest.mark.unit
def test_after_a_timeout_only_the_stuck_file_fails() -> None:
    a, b, c, d = (ParseTask(f"/x/{n}", n, 0, None, False) for n in "abcd")
    running = {(a,): 0.0, (b, c): 0.0, (d,): 0.0}
    failed, again = _after_timeout(running, [(a,), (b, c)], 10.0)
    assert [outcome.task for outcome in failed] == [a]
    assert "stopped" in failed[0].message
    assert again == [(b,), (c,), (d,)]


@pytest.mark.unit
def test_groups_waiting_for_a_worker_have_no_clock_running() -> None:
    # On a busy machine files wait behind a slow one; they must not count as stuck.
    a, b, c = (ParseTask(f"/x/{n}", n, 0, None, False) for n in "abc")
    running: dict[tuple[ParseTask, ...], float | None] = {(a,): 5.0, (b,): None, (c,): None}
    _start_clocks(running, workers=2)
    assert running[(a,)] == 5.0  # started earlier, keeps its time
    assert running[(b,)] is not None and running[(b,)] > 5.0  # now being parsed
    assert running[(c,)] is None  # still waiting
    del running[(a,)]
    _start_clocks(running, workers=2)
    assert running[(c,)] is not None


@pytest.mark.integration
def test_workers_return_every_file_once(tmp_path: Path) -> None:
    paths = []
    for number in range(40):
        path = tmp_path / f"f{number}.txt"
        path.write_text(f"Datei {number}: Die Pauschale beträgt {number} Euro.\n", encoding="utf-8")
        paths.append(path)
    (tmp_path / "leer.txt").write_bytes(b"")
    paths.append(tmp_path / "leer.txt")
    outcomes = list(FileProcessor(ParseOptions(), workers=2).run([_task(p) for p in paths]))
    assert sorted(o.task.rel for o in outcomes) == sorted(p.name for p in paths)
    by_name = {o.task.rel: o for o in outcomes}
    assert by_name["leer.txt"].status == "failed"
    assert by_name["f7.txt"].parsed is not None
    assert by_name["f7.txt"].parsed.chunk_rows(1)[0]["text"].startswith("Datei 7:")


@pytest.mark.integration
@pytest.mark.slow
def test_a_file_that_takes_too_long_is_stopped_and_the_rest_is_parsed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workers, "HARD_TIMEOUT_GRACE_S", 0.0)
    huge = tmp_path / "riesig.txt"
    sentence = "Die Verpflegungspauschale beträgt achtundzwanzig Euro pro Tag. "
    huge.write_text((sentence * 20 + "\n\n") * 12_000, encoding="utf-8")
    small = []
    for number in range(30):
        path = tmp_path / f"klein{number}.txt"
        path.write_text(f"Kleine Datei {number}.\n", encoding="utf-8")
        small.append(path)
    options = ParseOptions(timeout_s=1.0)
    outcomes = list(FileProcessor(options, workers=2).run([_task(huge), *map(_task, small)]))
    by_name = {o.task.rel: o for o in outcomes}
    assert len(outcomes) == 31
    assert by_name["riesig.txt"].status == "failed"
    assert "stopped" in by_name["riesig.txt"].message
    assert all(by_name[p.name].status == "parsed" for p in small)
