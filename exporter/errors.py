"""Exceptions the exporter raises for configuration problems."""


class TokenError(Exception):
    """No access token could be minted; `rejected` tells a refused account from an unreachable
    token server."""

    def __init__(self, rejected: bool) -> None:
        super().__init__("token refused" if rejected else "token server unreachable")
        self.rejected = rejected


class ConfigError(Exception):
    """A configuration problem: one readable line per problem, exit status 2."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
