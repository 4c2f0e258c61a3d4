"""Exceptions the exporter raises for configuration problems."""


class ConfigError(Exception):
    """A configuration problem: one readable line per problem, exit status 2."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
