"""The live runner's pacing input while a machine is left its message: a call AMD found to
be a machine is not among the calls that may still want an agent (its greeting is waited
out for up to 10 s, then its message played, with the call still in flight)."""

from __future__ import annotations

from pathlib import Path

from callflow.ari.dispatch import EventQueue
from callflow.dialer.live import _Attempt
from callflow.store import SqliteStore
from tests.unit.dialer.test_live_runner import NOON_UTC, Host, runner_for, store  # noqa: F401


def attempt(number: str, **kwargs: object) -> _Attempt:
    return _Attempt(
        id=f"a{number[-3:]}",
        lead={"number": number},
        attempt=1,
        dialed_at=NOON_UTC - 5,
        events=EventQueue(f"c{number[-3:]}"),
        **kwargs,  # type: ignore[arg-type]
    )


async def test_a_machine_being_left_its_message_is_not_a_call_that_may_want_an_agent(
    tmp_path: Path,
    store: SqliteStore,  # noqa: F811 (the fixture imported above)
) -> None:
    runner = runner_for(tmp_path, store, Host())
    ringing = attempt("+15550100103")
    screening = attempt("+15550100104", stage="screening")
    machine = attempt("+15550100105", stage="screening", outcome="machine")
    for a in (ringing, screening, machine):
        runner._flight[a.id] = a
    calls = runner.pacing_state(NOON_UTC).calls
    assert sorted(c.stage for c in calls) == ["ringing", "screening"], calls
