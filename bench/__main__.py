"""`python -m bench [--smoke] [--out PATH] [--only cpu|inference|replicas|growth]`: run benchmarks,
write the report."""

from bench.main import main

raise SystemExit(main())
