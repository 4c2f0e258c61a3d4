"""Grafana provisioning, dashboards and the generator that writes them."""
