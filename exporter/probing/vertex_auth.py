"""OAuth2 access tokens for Google Vertex AI, minted from a service account and cached."""

from __future__ import annotations

import asyncio
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
import requests
from google.oauth2 import service_account

from exporter.errors import TokenError
from exporter.targets import GoogleAccount

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)


class _TimedRequest(google.auth.transport.requests.Request):
    """google-auth's transport with our timeout (its default is 120 s): a hanging token server
    must not keep refresh threads alive past the probe that waited for them."""

    def __init__(self, session: requests.Session, timeout: float) -> None:
        super().__init__(session)
        self._timeout = timeout

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["timeout"] = self._timeout
        return super().__call__(*args, **kwargs)  # type: ignore[no-untyped-call]


class GoogleTokenSource:
    """Hand out a valid access token, refreshing it (in a thread) shortly before it expires."""

    def __init__(self, account: GoogleAccount, timeout: float) -> None:
        make = service_account.Credentials.from_service_account_info
        self._credentials = make(  # type: ignore[no-untyped-call]
            dict(account.info), scopes=SCOPES
        )
        self._timeout = timeout
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """Return a valid access token. Raises TokenError; never logs the token."""
        async with self._lock:  # concurrent callers share one refresh
            if not self._credentials.valid:  # google-auth counts "about to expire" as invalid
                await asyncio.wait_for(asyncio.to_thread(self._refresh), self._timeout)
        token = self._credentials.token
        assert isinstance(token, str)
        return token

    def _refresh(self) -> None:
        session = requests.Session()
        try:
            request = _TimedRequest(session, self._timeout)
            self._credentials.refresh(request)
        except google.auth.exceptions.RefreshError:
            raise TokenError(rejected=True) from None
        except (google.auth.exceptions.TransportError, requests.RequestException):
            raise TokenError(rejected=False) from None
        finally:
            session.close()
