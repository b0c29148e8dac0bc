"""How to reach Asterisk's ARI: address, credentials, apps, timeouts and retry policy."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

__all__ = ["AriConfig"]


@dataclass(frozen=True, slots=True, kw_only=True)
class AriConfig:
    """Connection settings for one ARI client and its event stream.

    ``base_url`` is the Asterisk HTTP server, e.g. ``http://127.0.0.1:8088``; the
    ``/ari`` prefix is added here. Credentials live only in ``username`` and
    ``password`` and travel in an ``Authorization`` header, never in a URL;
    ``repr()`` hides the password.
    """

    base_url: str
    username: str
    password: str = field(repr=False)
    apps: tuple[str, ...]
    subscribe_all: bool = False
    request_timeout: float = 10.0
    connect_timeout: float = 10.0
    backoff_initial: float = 0.5
    # Asterisk restarts in seconds: a cap of 4 s reconnects within 4 s of ARI answering.
    backoff_max: float = 4.0
    backoff_factor: float = 2.0
    ping_interval: float | None = 20.0
    # Seconds between two comparisons of the app's channels in Asterisk with the calls the
    # application knows (callflow.call.reconcile); 0: never.
    reconcile_interval: float = 30.0

    def __post_init__(self) -> None:
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("base_url must look like http://host:port")
        if parts.username is not None or parts.password is not None:
            # Say so without echoing the URL: it holds the secret we refuse to log.
            raise ValueError("base_url must not contain credentials; use username/password")
        if parts.query or parts.fragment:
            raise ValueError("base_url must not have a query string or fragment")
        if not self.username or ":" in self.username:
            raise ValueError("username must be non-empty and without ':' (RFC 7617)")
        if isinstance(self.apps, str):
            raise TypeError("apps must be a tuple of app names, not a string")
        if not self.apps or any(not app or "," in app for app in self.apps):
            raise ValueError("apps must name at least one Stasis app, without commas")
        if self.request_timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("timeouts must be positive")
        if self.reconcile_interval < 0:
            raise ValueError("reconcile_interval must be 0 (off) or positive")
        if not 0 < self.backoff_initial <= self.backoff_max or self.backoff_factor < 1:
            raise ValueError("backoff needs 0 < initial <= max and factor >= 1")

    def authorization(self) -> str:
        """The ``Authorization`` header value (Basic) for both REST and the event socket."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"

    @property
    def rest_url(self) -> str:
        """The ARI REST root, e.g. ``http://127.0.0.1:8088/ari``."""
        root = self.base_url.rstrip("/")
        return root if root.endswith("/ari") else f"{root}/ari"

    @property
    def events_url(self) -> str:
        """The event WebSocket URL: apps and ``subscribeAll`` only, no credentials."""
        scheme, rest = self.rest_url.split("://", 1)
        ws_scheme = "wss" if scheme == "https" else "ws"
        query = urlencode(
            {
                "app": ",".join(self.apps),
                "subscribeAll": "true" if self.subscribe_all else "false",
            },
            quote_via=quote,
            safe=",",
        )
        return f"{ws_scheme}://{rest}/events?{query}"
