"""The reconnect policy and config rules, as plain functions (no I/O)."""

from __future__ import annotations

import itertools

import pytest

from callflow.ari import (
    AriConfig,
    AsteriskUnreachable,
    AuthenticationFailed,
    BadRequest,
    EventStreamClosed,
    InvalidResponse,
    NotFound,
    ServerError,
    backoff,
    process_exception,
)


def test_backoff_ceilings_grow_exponentially_up_to_the_cap() -> None:
    """With the jitter draw at its maximum, delays double from the initial value to the cap."""
    delays = list(itertools.islice(backoff(0.5, 4.0, 2.0, rng=lambda: 1.0), 7))
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]


def test_backoff_uses_full_jitter_and_stays_within_the_cap() -> None:
    """Real random delays are spread over [0, ceiling] and never exceed the cap."""
    delays = list(itertools.islice(backoff(0.1, 2.0), 500))
    assert all(0.0 <= d <= 2.0 for d in delays)
    assert min(delays[10:]) < 0.5 < max(delays[10:])


def test_backoff_rejects_nonsense() -> None:
    """A cap below the initial delay is a configuration error."""
    with pytest.raises(ValueError):
        next(backoff(5.0, 1.0))


@pytest.mark.parametrize(
    "error",
    [
        AsteriskUnreachable("refused"),
        EventStreamClosed("dropped", code=1006),
        ServerError(503, "Service Unavailable"),
    ],
)
def test_transient_failures_are_retried(error: Exception) -> None:
    """Unreachable, dropped and 5xx mean "try again later"."""
    assert process_exception(error) is None  # type: ignore[arg-type]


def test_wrong_credentials_are_fatal_with_a_clear_message() -> None:
    """A 401 will not fix itself: it is returned as fatal, pointing at ari.conf."""
    fatal = process_exception(AuthenticationFailed(401, "Authentication required"))
    assert isinstance(fatal, AuthenticationFailed)
    assert "ari.conf" in str(fatal)


def test_refused_app_name_is_fatal_with_a_clear_message() -> None:
    """A 400 on subscribing means a bad app name: fatal, naming the app names as the cause."""
    fatal = process_exception(BadRequest(400, "Invalid application provided in param 'app'."))
    assert isinstance(fatal, BadRequest)
    assert "app names" in str(fatal)


def test_not_found_while_asterisk_starts_is_retried() -> None:
    """A 404 on the event socket (Asterisk 22 before res_ari is up) is retried, not fatal."""
    assert process_exception(NotFound(404, "Not Found")) is None


@pytest.mark.parametrize("error", [InvalidResponse("garbage")])
def test_other_errors_are_fatal_as_they_are(error: Exception) -> None:
    """Anything not known to be transient is raised unchanged."""
    assert process_exception(error) is error  # type: ignore[arg-type]


def test_config_repr_hides_the_password() -> None:
    """repr() of a config shows where it connects, never the password."""
    config = AriConfig(
        base_url="http://127.0.0.1:8088", username="callflow", password="hunter2", apps=("a",)
    )
    assert "hunter2" not in repr(config) and "hunter2" not in str(config)
    assert "callflow" in repr(config)


def test_config_urls_never_carry_credentials() -> None:
    """The REST root and the event URL hold apps and subscribeAll, nothing secret."""
    config = AriConfig(
        base_url="https://pbx.example:8089/",
        username="callflow",
        password="hunter2",
        apps=("ivr", "dialer"),
        subscribe_all=True,
    )
    assert config.rest_url == "https://pbx.example:8089/ari"
    assert config.events_url == "wss://pbx.example:8089/ari/events?app=ivr,dialer&subscribeAll=true"


def test_config_refuses_credentials_in_the_url_without_echoing_them() -> None:
    """A base_url with user:password@ is rejected, and the error does not repeat the secret."""
    with pytest.raises(ValueError) as caught:
        AriConfig(
            base_url="http://callflow:hunter2@127.0.0.1:8088",
            username="callflow",
            password="hunter2",
            apps=("a",),
        )
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("apps", [(), ("",), ("a,b",)])
def test_config_needs_real_app_names(apps: tuple[str, ...]) -> None:
    """At least one app, none empty, none with the comma ARI uses as separator."""
    with pytest.raises(ValueError):
        AriConfig(base_url="http://127.0.0.1:8088", username="u", password="p", apps=apps)
