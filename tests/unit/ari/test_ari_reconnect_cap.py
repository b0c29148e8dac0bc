"""The reconnect policy keeps the promise "connected again within 5 s of Asterisk answering"."""

from __future__ import annotations

import itertools

from callflow.app.settings import AriSettings, Settings
from callflow.ari import backoff

RECONNECT_GOAL = 5.0  # seconds from Asterisk answering again to the event socket up


def test_no_wait_between_attempts_exceeds_four_seconds_with_the_default_settings() -> None:
    """Whatever the draws and however many attempts failed while Asterisk restarted (its
    404s, then 503s), the next attempt is at most backoff_max = 4 s away: with the handshake
    and the resync, under the 5 s goal."""
    config = Settings(ari=AriSettings(password="pw"), flows=()).ari_config()
    assert config.backoff_max <= RECONNECT_GOAL - 1.0
    unlucky = backoff(
        config.backoff_initial, config.backoff_max, config.backoff_factor, rng=lambda: 0.999999
    )
    delays = list(itertools.islice(unlucky, 40))
    assert max(delays) <= config.backoff_max
    assert delays[0] <= config.backoff_initial  # the first retry after a drop comes fast
