"""Run the exporter's command line (`python -m exporter`)."""

from exporter.cli import main

raise SystemExit(main())
