"""Command line: write the dashboards, or check that the committed ones are current."""

from __future__ import annotations

import argparse
import sys

from grafana.generator import build_dashboards, dashboard_path, render_json, write_dashboards


def main(argv: list[str] | None = None) -> int:
    """Write every dashboard (default) or, with --check, report drift and exit 1."""
    parser = argparse.ArgumentParser(prog="python -m grafana.generator")
    parser.add_argument("--check", action="store_true", help="fail if committed JSON differs")
    args = parser.parse_args(argv)
    if not args.check:
        for path in write_dashboards():
            print(path)
        return 0
    drifted = [
        str(dashboard_path(d))
        for d in build_dashboards()
        if not dashboard_path(d).is_file()
        or dashboard_path(d).read_text(encoding="utf-8") != render_json(d)
    ]
    for path in drifted:
        print(f"out of date: {path}", file=sys.stderr)
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
