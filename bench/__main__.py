"""`python -m bench [--smoke]`: run every benchmark and write the report."""

from bench.main import main

raise SystemExit(main())
