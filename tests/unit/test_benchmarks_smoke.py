"""The benchmark suite runs: every benchmark at tiny sizes produces a well-formed result.

These tests do not check the performance targets (tiny sizes mean nothing, and the test machine
is shared); they keep ``python -m benchmarks`` from rotting as the library changes. P2, P3 and
P5 start a FakeFleep server in a child process.
"""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest

from benchmarks.__main__ import BENCHMARKS, main, run_suite
from benchmarks._report import BenchResult, render_markdown


def _check_well_formed(result: BenchResult, bench_id: str) -> None:
    assert result.id == bench_id
    assert result.title
    assert result.description
    assert result.checks, "every benchmark has at least one target"
    for check in result.checks:
        assert check.op in ("<=", ">=")
        assert math.isfinite(check.value), check
        if check.unit == "x":  # a ratio (a memory growth may be negative): with its spread
            assert check.value > 0, check
            assert check.spread is not None, check
            assert check.spread[0] <= check.value <= check.spread[1], check
        assert check.target > 0
        assert isinstance(check.passed, bool)
    assert result.tables
    for name, rows in result.tables.items():
        assert rows, f"table {name!r} is empty"
        assert all(isinstance(row, dict) and row for row in rows)
    assert result.seconds > 0
    document = orjson.loads(orjson.dumps(result.as_dict()))
    assert document["id"] == bench_id
    assert document["passed"] == all(c["passed"] for c in document["checks"])
    markdown = render_markdown([result], {"command": "test", "machine": {}, "quick": True})
    assert f"## {bench_id}: {result.title}" in markdown
    assert "| id | benchmark | check | value | min..max over rounds | target | result |" in markdown


@pytest.mark.parametrize("bench_id", list(BENCHMARKS))
def test_benchmark_runs_at_tiny_sizes(bench_id: str) -> None:
    logged: list[str] = []
    [result] = run_suite([bench_id], quick=True, log=logged.append)
    _check_well_formed(result, bench_id)
    assert logged[0].startswith(bench_id)
    assert sum(line.strip().startswith(("PASS", "FAIL")) for line in logged) == len(result.checks)
    if bench_id in ("P1", "P2"):  # both engine-cost benchmarks report the typed-decode floor
        floors = [
            row
            for rows in result.tables.values()
            for row in rows
            if str(row.get("side", "")).startswith("decode floor")
        ]
        assert len(floors) == 1, result.tables
        assert any(note.startswith("Decode floor:") for note in result.notes)


def test_decode_floor_decodes_exactly_the_records_the_bot_handles() -> None:
    from benchmarks._data import make_stream
    from benchmarks.bench_dispatch import BOT_KINDS, decode_floor

    stream = make_stream(200)
    kinds = BOT_KINDS
    page = orjson.dumps({"event_horizon": 0, "stream": stream})
    wanted = sum(record["mk_rec_type"] in kinds for record in stream)
    assert 0 < wanted < len(stream)
    assert decode_floor(page, kinds) == wanted


def test_entry_point_writes_json_and_markdown(tmp_path: Path) -> None:
    assert main(["--quick", "--only", "p1", "--out", str(tmp_path)]) == 0
    document = orjson.loads((tmp_path / "results.json").read_bytes())
    assert document["quick"] is True
    assert document["command"] == "python -m benchmarks --quick --only p1 --out " + str(tmp_path)
    machine = document["machine"]
    assert {"cpu", "cores", "python", "os", "date"} <= set(machine)
    assert [r["id"] for r in document["results"]] == ["P1"]
    markdown = (tmp_path / "RESULTS.md").read_text(encoding="utf-8")
    assert markdown.startswith("# fleep-async benchmark results")
    assert "## P1: Parse + dispatch" in markdown
    assert machine["python"] in markdown


def test_entry_point_rejects_an_unknown_benchmark(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="unknown benchmark"):
        main(["--quick", "--only", "P9", "--out", str(tmp_path)])
    assert not (tmp_path / "results.json").exists()


def test_standalone_parse_benchmark_reports_a_ratio(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks import bench_parse

    ratio = bench_parse.main(["--quick"])
    assert math.isfinite(ratio)
    assert ratio > 0
    assert "ratio A/B" in capsys.readouterr().out


def test_standalone_engine_benchmark_measures_both_sides(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from benchmarks import bench_engine

    engine, bare = bench_engine.main(["--quick"])
    for side in (engine, bare):
        assert side.rates
        assert all(rate > 0 for rate in side.rates)
        assert side.latencies
    assert "engine/bare" in capsys.readouterr().out


def test_readme_table_is_regenerated_from_the_results(tmp_path: Path) -> None:
    from benchmarks import readme

    assert main(["--quick", "--only", "P1", "--out", str(tmp_path)]) == 0
    page = tmp_path / "README.md"
    page.write_text(
        f"# x\n\n## Performance\n\n{readme.START}\nold table\n{readme.END}\n\n## Next\n",
        encoding="utf-8",
    )
    args = ["--results", str(tmp_path / "results.json"), "--readme", str(page)]
    assert readme.main([*args, "--check"]) == 1  # out of date
    assert readme.main(args) == 0
    text = page.read_text(encoding="utf-8")
    assert "old table" not in text
    assert text.startswith("# x\n")
    assert text.endswith("## Next\n")
    rows = [line for line in text.splitlines() if line.startswith("| P1 |")]
    assert len(rows) == 2  # the `bot` and `bot dedup` checks, each with its spread
    assert all(".." in row for row in rows)
    assert readme.main([*args, "--check"]) == 0


@pytest.mark.parametrize(
    "side",
    [
        "baseline",
        "decode floor",
        "bot",
        "bot dedup",
        "drain engine",
        "drain decode floor",
        "drain bare loop",
    ],
)
def test_instruction_count_child_feeds_the_pages_it_is_told(side: str) -> None:
    # The valgrind runs themselves take minutes (python -m benchmarks.instructions); here the
    # child each of them runs: it builds every page first and feeds only the first ones.
    from benchmarks import instructions

    assert instructions.main(["--child", side, "1", "2"]) == 0


def test_instruction_count_rejects_an_unknown_variant() -> None:
    from benchmarks import instructions

    with pytest.raises(SystemExit):
        instructions.main(["--variants", "bot,nope"])
