"""The benchmarks' smoke size runs end to end and reports every figure (timings not judged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.growth import p99_bound
from bench.main import EXPECTED_ROWS
from bench.report import Row, Table, parse_rows, render_report, splice

ROOT = Path(__file__).resolve().parents[2]
INFERENCE = "Inference probes"


def run_bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


def assert_filled(section: str, rows: list[list[str]]) -> None:
    by_name = {cells[0]: cells[1:] for cells in rows}
    assert sorted(by_name) == sorted(EXPECTED_ROWS[section]), section
    for name, cells in by_name.items():
        assert all(cell for cell in cells), f"{section} / {name} has an empty cell"
        assert any(cell not in ("—", "n/a (too few ticks)") for cell in cells[:-2]), (
            f"{section} / {name} reports no figure"
        )


def without(markdown: str, title: str) -> str:
    """Return `markdown` without section `title` (its heading up to the next one)."""
    kept, skipping = [], False
    for line in markdown.splitlines(keepends=True):
        if line.startswith("## "):
            skipping = line[3:].strip() == title
        if not skipping:
            kept.append(line)
    return "".join(kept)


def old_report() -> str:
    tables = [
        Table("CPU per probe", ("CPU per probe",), [Row("provider-exporter", ("0.3 ms",))]),
        Table("Memory", ("RSS",), [Row("RSS after warm-up", ("80 MB",))], ["A note."]),
    ]
    return render_report("Benchmarks", "Machine: here", tables, "Written earlier.")


@pytest.mark.slow
def test_smoke_run_reports_every_row(tmp_path: Path) -> None:
    """`python -m bench --smoke` exits 0 and its report has every row of every table, filled in."""
    out = tmp_path / "benchmarks.md"
    done = run_bench("--out", str(out))
    assert done.returncode == 0, done.stderr[-4000:]
    report = out.read_text(encoding="utf-8")
    assert "Machine:" in report and "nproc" in report
    tables = parse_rows(report)
    assert set(tables) == set(EXPECTED_ROWS)
    for section, rows in tables.items():
        assert_filled(section, rows)
    assert "![How cost grows](benchmarks-growth.png)" in report  # relative to the report
    assert (tmp_path / "benchmarks-growth.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_only_inference_splices_its_section_into_the_report(tmp_path: Path) -> None:
    """`--only inference` adds its filled-in section after CPU per probe and changes no other
    line of the report at --out."""
    out = tmp_path / "benchmarks.md"
    out.write_text(old_report(), encoding="utf-8")
    done = run_bench("--only", "inference", "--out", str(out))
    assert done.returncode == 0, done.stderr[-4000:]
    report = out.read_text(encoding="utf-8")
    tables = parse_rows(report)
    assert list(tables) == ["CPU per probe", INFERENCE, "Memory"]
    assert_filled(INFERENCE, tables[INFERENCE])
    assert "measured alone by `python -m bench --smoke --only inference`" in report
    assert without(report, INFERENCE) == old_report()


def test_splice_replaces_a_section_in_place() -> None:
    """Splicing a section the report already has replaces it where it is, once."""
    first = Table(INFERENCE, ("CPU per probe",), [Row("inference probe", ("1 ms",))])
    second = Table(INFERENCE, ("CPU per probe",), [Row("inference probe", ("2 ms",))])
    report = splice(splice(old_report(), first, after="CPU per probe"), second, "CPU per probe")
    tables = parse_rows(report)
    assert list(tables) == ["CPU per probe", INFERENCE, "Memory"]
    assert tables[INFERENCE] == [["inference probe", "2 ms", "—", "—"]]
    assert without(report, INFERENCE) == old_report()
    appended = splice(old_report(), first, after="no such section")
    assert list(parse_rows(appended)) == ["CPU per probe", "Memory", INFERENCE]
    assert appended.startswith(old_report())


def test_lag_p99_is_the_bound_of_the_bucket_holding_it() -> None:
    """The growth section's probe lag p99 comes from the delta of two scrapes of the cumulative
    histogram: the smallest bound whose count reaches 99 % of the window's probes."""
    inf = float("inf")
    before = {0.005: 10.0, 0.01: 10.0, 0.1: 10.0, inf: 10.0}
    after = {0.005: 900.0, 0.01: 1005.0, 0.1: 1010.0, inf: 1010.0}  # 1000 new: 890, 105, 5
    assert p99_bound(before, after) == (0.01, 1000)
    after[inf] = after[0.1] = 1030.0  # 20 more between 10 and 100 ms: 1 % is past 10 ms
    assert p99_bound(before, after) == (0.1, 1020)
    with pytest.raises(RuntimeError):
        p99_bound(before, before)
