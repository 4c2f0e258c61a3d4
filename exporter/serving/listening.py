"""Where the web server listens, and one line naming the variable when it cannot."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Sequence

from exporter.errors import ConfigError


def listen_error(
    port: int, addresses: Sequence[str], errors: Sequence[OSError | ValueError]
) -> ConfigError:
    """Return the configuration error for a port that could be bound on none of `addresses`."""
    shown = ", ".join(dict.fromkeys(addresses))
    codes = {getattr(exc, "errno", None) for exc in errors}
    if codes == {errno.EADDRINUSE}:
        return ConfigError([f"PORT: {port} is already in use on every address ({shown})"])
    if codes == {errno.EACCES}:
        return ConfigError([f"PORT: {port} needs privileges to listen on (permission denied)"])
    reasons = sorted({reason(exc) for exc in errors})
    return ConfigError(
        [f"LISTEN_ADDRESSES: cannot listen on any of {shown} ({'; '.join(reasons)})"]
    )


def reason(exc: OSError | ValueError) -> str:
    """Return the system's short wording of a bind failure (aiohttp wraps it in a long one)."""
    if not isinstance(exc, OSError):
        return "not a valid host name"  # the resolver refused to encode it (e.g. "a..b")
    if exc.errno is not None and exc.errno > 0:
        return os.strerror(exc.errno).lower()
    return (exc.strerror or exc.__class__.__name__).lower()  # resolver errors: negative errno


def check_listen(port: int, addresses: Sequence[str]) -> None:
    """Raise ConfigError unless `port` can be bound on at least one of `addresses`.

    Binds and closes at once, as the server would bind (SO_REUSEADDR, IPv6 only on IPv6), so
    `check-config` reports what `run` would meet.
    """
    errors: list[OSError | ValueError] = []
    for host in addresses:
        try:
            _try_bind(host, port)
            return
        except (OSError, ValueError) as exc:  # ValueError: a name the resolver cannot encode
            errors.append(exc)
    raise listen_error(port, addresses, errors)


def _try_bind(host: str, port: int) -> None:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    for family, kind, proto, _name, address in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
