"""The benchmarks' smoke size runs end to end and reports every figure (timings not judged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bench.main import EXPECTED_ROWS
from bench.report import parse_rows

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_smoke_run_reports_every_row(tmp_path: Path) -> None:
    """`python -m bench --smoke` exits 0 and its report has every row of every table, filled in."""
    out = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    report = out.read_text(encoding="utf-8")
    assert "Machine:" in report and "nproc" in report
    tables = parse_rows(report)
    assert set(tables) == set(EXPECTED_ROWS)
    for section, names in EXPECTED_ROWS.items():
        rows = {cells[0]: cells[1:] for cells in tables[section]}
        assert sorted(rows) == sorted(names), section
        for name, cells in rows.items():
            assert all(cell for cell in cells), f"{section} / {name} has an empty cell"
            assert any(cell not in ("—", "n/a (too few ticks)") for cell in cells[:-2]), (
                f"{section} / {name} reports no figure"
            )
