"""The live dialer bench's history: written to a real store as past attempts, it is what the
campaign runner reads back into its windows on start, and the simulator is given the same."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from callflow.bench.dialer_live import LiveScenario, seed_history, simulate, write_setup
from callflow.call.outbound import OutboundSettings
from callflow.dialer.campaign import Campaign, parse_campaign
from callflow.dialer.live import CampaignRunner
from callflow.dialer.status import status_of
from callflow.queue.config import load_queues
from callflow.queue.live import QueueService
from callflow.store import SqliteStore

#: 10:00 UTC: the history is spread over the ten hours since midnight.
START = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC).timestamp()
MIDNIGHT = START - 10 * 3600.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.sqlite3")
    yield opened
    opened.close()


def bench_runner(tmp_path: Path, store: SqliteStore) -> CampaignRunner:
    """The bench's own campaign and queues, with a runner as the app builds it (its host is
    never used by :meth:`CampaignRunner.restore`)."""
    queues_file, _, campaign_file = write_setup(tmp_path, LiveScenario())
    center, diagnostics = load_queues(str(queues_file))
    assert center is not None, diagnostics
    campaign, diagnostics = parse_campaign(str(campaign_file), campaign_file.read_text(), center)
    assert campaign is not None, diagnostics
    service = QueueService(center, store, clock=lambda: START)
    return CampaignRunner(campaign, service, None, OutboundSettings(caller_id="+15550100999"))  # type: ignore[arg-type]


def test_the_seeded_history_is_what_the_runner_reads_into_its_windows(
    tmp_path: Path, store: SqliteStore
) -> None:
    """400 live calls, 8 abandoned: after restore() the runner's windows (both) hold 400 live
    calls and 8 abandons, nothing is left to settle, and status_of reads the same rate; every
    attempt was dialed between midnight and the start, the leads are never dialed again."""
    runner = bench_runner(tmp_path, store)
    numbers = seed_history(store, runner.campaign, (400, 8), START)
    assert len(set(numbers)) == 400
    assert runner.restore() == []
    for window in runner.ledger.figures(START):
        assert (window.kind, window.live, window.abandoned) in {
            ("us-30d", 400.0, 8.0),
            ("uk-24h", 400.0, 8.0),
        }
    status = status_of(runner.campaign, store, START)
    assert [w["rate"] for w in status["windows"]] == [0.02, 0.02]
    assert (status["attempts"], status["contacts"], status["abandoned"]) == (400, 392, 8)
    attempts = store.campaign_attempts(runner.campaign.name)
    assert all(MIDNIGHT <= a["dialed_at"] < START and a["state"] == "ended" for a in attempts)
    assert store.due_leads(runner.campaign.name, START) == []
    states = {lead["state"] for lead in store.campaign_leads(runner.campaign.name)}
    assert states == {"done", "exhausted"}


def test_the_history_leaves_the_windows_a_day_later(tmp_path: Path, store: SqliteStore) -> None:
    """The history is today's: 24 h after the start the UK window no longer holds it (the
    30-day one does)."""
    runner = bench_runner(tmp_path, store)
    seed_history(store, runner.campaign, (100, 3), START)
    runner.restore()
    figures = {w.kind: w for w in runner.ledger.figures(START + 86_400.0)}
    assert (figures["uk-24h"].live, figures["us-30d"].live) == (0.0, 100.0)


def test_a_bad_history_is_refused_before_anything_is_written(
    tmp_path: Path, store: SqliteStore
) -> None:
    campaign: Campaign = bench_runner(tmp_path, store).campaign
    with pytest.raises(ValueError, match="abandons"):
        seed_history(store, campaign, (5, 6), START)
    assert store.campaign_attempts(campaign.name) == []


def test_the_simulator_starts_from_the_same_history() -> None:
    """Each simulated day ends with the history in its windows besides its own calls, and
    with it predictive dials more than progressive (without it, as much: no budget)."""
    scenario = LiveScenario(history=(400, 8))
    for day in simulate(scenario, "predictive", seeds=2):
        for kind in ("us-30d", "uk-24h"):
            window = day.window(kind)
            assert (window.live, window.abandoned) == (400 + day.live, 8 + day.abandoned)
    busier = sum(d.attempts for d in simulate(scenario, "predictive", seeds=5))
    plain = sum(d.attempts for d in simulate(scenario, "progressive", seeds=5))
    fresh = LiveScenario(history=(0, 0))
    assert busier > plain == sum(d.attempts for d in simulate(fresh, "predictive", seeds=5))
