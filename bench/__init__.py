"""Benchmarks of the exporter: detection, CPU per probe, scrape cost, memory, Redis poll."""
