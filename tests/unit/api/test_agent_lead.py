"""The agent's screen on the supervisor API: ``GET /api/agents/{agent}/lead`` (the lead
presented to or connected with the agent, its CSV fields; 404 when none) and ``POST
/api/agents/{agent}/preview/accept|skip`` (written for the campaign's runner; 409 when
nothing is presented), behind the token. The store holds what a runner writes."""

from __future__ import annotations

import aiohttp

from callflow.dialer import preview as pv
from callflow.store import SqliteStore


def show(store: SqliteStore, pid: str, agent: str, number: str) -> None:
    store.append(
        pv.PRESENTED,
        pid,
        {
            "campaign": "spring",
            "presentation": pid,
            "agent": agent,
            "number": number,
            "attempt": 2,
            "timezone": "America/New_York",
            "fields": {"first_name": "Ann", "account": "A-17"},
            "last_outcome": "no_answer",
            "at": 1000.0,
            "deadline": 1020.0,
            "on_timeout": "dial",
        },
    )
    store.flush()


async def test_the_lead_presented_to_an_agent_with_its_fields(
    store: SqliteStore, base: str, client: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
) -> None:
    show(store, "dlp1", "alice", "+12025550143")
    async with client.get(base + "/api/agents/alice/lead") as response:
        assert response.status == 200
        lead = (await response.json())["lead"]
    assert lead == {
        "agent": "alice",
        "campaign": "spring",
        "state": "presented",
        "presentation": "dlp1",
        "number": "+12025550143",
        "timezone": "America/New_York",
        "fields": {"first_name": "Ann", "account": "A-17"},
        "attempt": 2,
        "last_outcome": "no_answer",
        "presented_at": 1000.0,
        "deadline": 1020.0,
        "on_timeout": "dial",
    }
    async with anonymous.get(base + "/api/agents/alice/lead") as response:
        assert response.status == 401
    async with client.get(base + "/api/agents/bob/lead") as response:
        assert response.status == 404
        assert (await response.json())["error"] == "no_lead"
    async with client.get(base + "/api/agents/carol/lead") as response:
        assert response.status == 404
        assert (await response.json())["error"] == "unknown_agent"
    # Closed by a verdict: nothing presented any more.
    store.append(pv.SKIPPED, "dlp1", {"campaign": "spring", "presentation": "dlp1", "at": 1.0})
    store.flush()
    async with client.get(base + "/api/agents/alice/lead") as response:
        assert response.status == 404


async def test_accept_and_skip_are_written_for_the_runner_409_when_nothing_is_shown(
    store: SqliteStore, base: str, client: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
) -> None:
    async with client.post(base + "/api/agents/alice/preview/accept") as response:
        assert response.status == 409
        assert (await response.json())["error"] == "nothing_presented"
    show(store, "dlp2", "alice", "+12025550144")
    async with anonymous.post(base + "/api/agents/alice/preview/accept") as response:
        assert response.status == 401
    async with client.post(base + "/api/agents/alice/preview/dial") as response:
        assert response.status == 400
    async with client.post(base + "/api/agents/alice/preview/accept") as response:
        assert response.status == 202
        asked = await response.json()
    assert (asked["presentation"], asked["action"], asked["source"]) == ("dlp2", "accept", "api")
    assert asked["lead"]["number"] == "+12025550144"
    store.flush()
    [request] = store.events(kind=pv.REQUEST)
    assert request.call_id == "dlp2"
    assert {k: request.data[k] for k in ("campaign", "agent", "action", "request")} == {
        "campaign": "spring",
        "agent": "alice",
        "action": "accept",
        "request": asked["request"],
    }


async def test_the_lead_an_agent_is_connected_with_until_its_call_ends(
    store: SqliteStore, base: str, client: aiohttp.ClientSession
) -> None:
    """A campaign.connect for bob (any dial mode) is bob's screen while its attempt is not
    ended; a presentation newer than it would come first."""
    store.append("campaign.attempt", "dlc1", {"state": "connected"})
    store.append(
        "campaign.connect",
        "dlc1",
        {
            "campaign": "spring",
            "agent": "bob",
            "number": "+12025550145",
            "attempt": 1,
            "timezone": "UTC",
            "fields": {"first_name": "Bo"},
            "last_outcome": None,
            "at": 5.0,
        },
    )
    store.flush()
    async with client.get(base + "/api/agents/bob/lead") as response:
        lead = (await response.json())["lead"]
    assert (lead["state"], lead["call"], lead["fields"]) == (
        "connected",
        "dlc1",
        {"first_name": "Bo"},
    )
    async with client.post(base + "/api/agents/bob/preview/skip") as response:
        assert response.status == 409  # connected, not presented
    store.append("campaign.attempt", "dlc1", {"state": "ended"})
    store.flush()
    async with client.get(base + "/api/agents/bob/lead") as response:
        assert response.status == 404
