"""The ``api:`` settings: where the supervisor API listens and the token it asks for."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

DEFAULT_PORT = 8090
MIN_TOKEN_LENGTH = 16
TOKEN_ENV = "CALLFLOW_API_TOKEN"  # noqa: S105 (the variable's name, not a token)


class ApiSettingsError(ValueError):
    """The api settings cannot be used (no token, a token too short)."""


@dataclass(frozen=True)
class ApiSettings:
    """How the supervisor API, the wallboard and ``/metrics`` are served."""

    bind: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0: any free port (the log says which)
    token: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        problem = token_problem(self.token)
        if problem is not None:
            raise ApiSettingsError(problem)

    @property
    def loopback(self) -> bool:
        """Whether only this machine can reach the server."""
        if self.bind == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.bind).is_loopback
        except ValueError:
            return False


def token_problem(token: str) -> str | None:
    """Why a token cannot be used, or None."""
    if not token:
        return (
            "the api needs a token (api.token, or the environment variable named by "
            f"api.token_env, {TOKEN_ENV} by default)"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        return f"the api token must be at least {MIN_TOKEN_LENGTH} characters long"
    if not token.isprintable() or token != token.strip():
        return "the api token must be printable, without leading or trailing spaces"
    return None
