"""Benchmark figures as table rows, and the Markdown report they are written to."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Row:
    """One figure: its name, the measured result, the goal and whether the goal was met."""

    name: str
    cells: tuple[str, ...]
    goal: str = "—"
    met: bool | None = None  # None: reference figure, no goal

    def render(self) -> str:
        mark = {True: "yes", False: "**no**", None: "—"}[self.met]
        return "| " + " | ".join((self.name, *self.cells, self.goal, mark)) + " |"


@dataclass(slots=True)
class Table:
    """One section of the report: a titled table plus notes."""

    title: str
    columns: tuple[str, ...]  # the result columns, between the name and the goal
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    image: str = ""  # a plot shown under the notes: its path relative to the report

    def render(self) -> str:
        header = ("Figure", *self.columns, "Goal", "Met")
        lines = [f"## {self.title}", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines.extend(row.render() for row in self.rows)
        if self.notes:
            lines.append("")
            lines.extend(f"- {note}" for note in self.notes)
        if self.image:
            lines += ["", f"![{self.title}]({self.image})"]
        return "\n".join(lines) + "\n"


def seconds(value: float | None) -> str:
    """Format a duration for the report (None: the event never happened)."""
    if value is None:
        return "never"
    if value < 0.01:
        return f"{value * 1000:.2f} ms"
    return f"{value:.2f} s"


def median_worst(values: Sequence[float | None], total: int | None = None) -> str:
    """Format `median / worst` of detection times, saying how many repetitions never saw it."""
    seen = [v for v in values if v is not None]
    total = len(values) if total is None else total
    if not seen:
        return f"never (0/{total})"
    text = f"{seconds(statistics.median(seen))} / {seconds(max(seen))}"
    if len(seen) < total:
        text += f" (seen {len(seen)}/{total})"
    return text


def percentile(values: Sequence[float], q: float) -> float:
    """Return the `q` (0-1) percentile of `values`, nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def render_report(title: str, machine: str, tables: Sequence[Table], preface: str = "") -> str:
    """Return the whole Markdown report."""
    parts = [f"# {title}", "", preface, "", machine, ""]
    parts.extend(table.render() for table in tables)
    return "\n".join(parts)


def splice(markdown: str, table: Table, after: str) -> str:
    """Return `markdown` with `table`'s section replaced, else inserted after section `after`
    (else appended); every other line is kept as it is."""
    lines = markdown.splitlines(keepends=True)
    heads = [i for i, line in enumerate(lines) if line.startswith("## ")]

    def bounds(title: str) -> tuple[int, int] | None:
        for k, i in enumerate(heads):
            if lines[i][3:].strip() == title:
                return i, heads[k + 1] if k + 1 < len(heads) else len(lines)
        return None

    own, anchor = bounds(table.title), bounds(after)
    if own is not None:
        start, end = own
    else:
        start = end = len(lines) if anchor is None else anchor[1]
    head = "".join(lines[:start])
    if head and not head.endswith("\n\n"):
        head += "\n" if head.endswith("\n") else "\n\n"
    tail = "".join(lines[end:])
    return head + table.render() + ("\n" + tail if tail else "")


def parse_rows(markdown: str) -> dict[str, list[list[str]]]:
    """Return the rows of every table in a report, by section title (for the smoke test)."""
    tables: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for line in markdown.splitlines():
        if line.startswith("## "):
            current = tables.setdefault(line[3:].strip(), [])
        elif current is not None and line.startswith("| ") and not line.startswith("| Figure"):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return tables
