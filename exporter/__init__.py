"""GatewayZ provider exporter: probes upstream AI providers and exports their health."""

__version__ = "0.1.0"
