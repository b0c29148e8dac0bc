"""The JSON routes over an in-memory queue centre: figures, callers, agent changes with the
CLI's rules, KPIs from the event log, and the OpenAPI document that describes them."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import yaml

from callflow.api.server import ApiServer
from callflow.queue.live import QueueService
from callflow.queue.routing import QueueEntry
from callflow.queue.staffing import Traffic, plan
from callflow.store import SqliteStore
from tests.unit.api.conftest import Clock


def join(queues: QueueService, entry_id: str, queue: str, at: float, caller: str = "+1") -> None:
    decision = queues.router.join(QueueEntry(entry_id, queue, caller, joined_at=at), at)
    assert decision.joined


async def get(client: aiohttp.ClientSession, url: str, status: int = 200) -> Any:
    async with client.get(url) as response:
        assert response.status == status, await response.text()
        assert response.content_type == "application/json"
        return await response.json()


async def post(client: aiohttp.ClientSession, url: str, body: Any, status: int = 200) -> Any:
    async with client.post(url, json=body) as response:
        assert response.status == status, await response.text()
        return await response.json()


async def test_queues_show_callers_waiting_longest_wait_and_agents_by_state(
    base: str, client: aiohttp.ClientSession, queues: QueueService, clock: Clock
) -> None:
    """Two callers in support, the first there 30 s: waiting 2, longest wait 30 s; agents
    counted by state among the queue's members."""
    join(queues, "c1", "support", clock.now - 30)
    join(queues, "c2", "support", clock.now - 5)
    queues.login("alice")
    queues.login("bob")
    queues.pause("bob", "lunch")
    found = await get(client, base + "/api/queues")
    support, sales = found["queues"]
    assert support["name"] == "support" and sales["name"] == "sales"
    assert support["waiting"] == 2 and support["callers"] == 2
    assert support["longest_wait"] == 30.0 and support["oldest"] == "c1"
    assert support["agents"]["available"] == 1 and support["agents"]["paused"] == 1
    assert sales["waiting"] == 0 and sales["longest_wait"] == 0.0
    assert sales["agents"]["available"] == 1 and sales["agents"]["paused"] == 0
    assert await get(client, base + "/api/queues/support") == support


async def test_callers_are_listed_in_service_order_with_their_wait(
    base: str, client: aiohttp.ClientSession, queues: QueueService, clock: Clock
) -> None:
    """Each caller's position and wait, per queue and for all queues."""
    join(queues, "c1", "support", clock.now - 30, "+15550000001")
    join(queues, "c2", "sales", clock.now - 10, "+15550000002")
    join(queues, "c3", "support", clock.now - 5, "+15550000003")
    support = (await get(client, base + "/api/queues/support/callers"))["callers"]
    assert [(c["id"], c["position"], c["waited"]) for c in support] == [
        ("c1", 1, 30.0),
        ("c3", 2, 5.0),
    ]
    every = (await get(client, base + "/api/callers"))["callers"]
    assert [c["id"] for c in every] == ["c1", "c3", "c2"]
    assert every[0]["caller"] == "+15550000001" and every[0]["kind"] == "caller"


async def test_unknown_queue_and_agent_are_404(base: str, client: aiohttp.ClientSession) -> None:
    """A name that is not in the queues file."""
    assert (await get(client, base + "/api/queues/nope", 404))["error"] == "unknown_queue"
    assert (await get(client, base + "/api/agents/nope", 404))["error"] == "unknown_agent"
    found = await post(client, base + "/api/agents/nope", {"action": "login"}, 404)
    assert found["error"] == "unknown_agent"


async def test_agent_changes_follow_the_same_rules_as_the_cli(
    base: str, client: aiohttp.ClientSession, store: SqliteStore
) -> None:
    """Login, pause with a reason, unpause, logout; an action the state does not allow is
    refused (409) with the queue's own words; each answer is an agent.command event."""
    done = await post(client, base + "/api/agents/alice", {"action": "login"})
    assert done["ok"] and done["agent"]["state"] == "available"
    done = await post(client, base + "/api/agents/alice", {"action": "pause", "reason": "lunch"})
    assert done["agent"]["state"] == "paused" and done["agent"]["reason"] == "lunch"
    refused = await post(client, base + "/api/agents/alice", {"action": "login"}, 409)
    assert refused == {"error": "refused", "message": refused["message"]}
    assert "alice" in refused["message"]
    await post(client, base + "/api/agents/alice", {"action": "unpause"})
    await post(client, base + "/api/agents/alice", {"action": "logout"})
    agents = (await get(client, base + "/api/agents"))["agents"]
    assert [(a["name"], a["state"]) for a in agents] == [
        ("alice", "logged_out"),
        ("bob", "logged_out"),
    ]
    answers = [(e.data["action"], e.data["ok"]) for e in store.events(kind="agent.command")]
    assert answers == [
        ("login", True),
        ("pause", True),
        ("login", False),
        ("unpause", True),
        ("logout", True),
    ]


async def test_malformed_agent_changes_are_400(base: str, client: aiohttp.ClientSession) -> None:
    """No action, an unknown action or field, a reason with another action than pause or
    that is not text, a body that is not a JSON object."""
    url = base + "/api/agents/alice"
    for body in (
        {},
        {"action": "status"},
        {"action": "dance"},
        {"action": "login", "x": 1},
        {"action": "login", "reason": "lunch"},
        {"action": "pause", "reason": 5},
        [],
    ):
        assert (await post(client, url, body, 400))["error"] == "bad_request"
    async with client.post(url, data=b"not json") as response:
        assert response.status == 400


async def test_callbacks_are_requested_checked_listed_and_cancelled(
    base: str, client: aiohttp.ClientSession, store: SqliteStore
) -> None:
    """A request is checked with the queue's number rules (as the CLI's), stored for the
    running app to book, listed, and cancelled; what may not be called says why."""
    assert (await get(client, base + "/api/callbacks")) == {"callbacks": []}
    asked = await post(
        client, base + "/api/callbacks", {"queue": "support", "number": "2125550142"}, 202
    )
    row = asked["callback"]
    assert (row["queue"], row["number"], row["state"]) == ("support", "+12125550142", "submitted")
    store.flush()
    assert [r["id"] for r in (await get(client, base + "/api/callbacks"))["callbacks"]] == [
        row["id"]
    ]
    refused = await post(
        client, base + "/api/callbacks", {"queue": "support", "number": "911"}, 422
    )
    assert refused["error"] == "refused" and "emergency" in refused["message"]
    injected = {"queue": "support", "number": "2125550142&PJSIP/alice"}
    assert (await post(client, base + "/api/callbacks", injected, 422))["error"] == "refused"
    none = await post(
        client, base + "/api/callbacks", {"queue": "sales", "number": "2125550142"}, 409
    )
    assert none["error"] == "no_callbacks"
    await post(client, base + "/api/callbacks", {"queue": "nowhere", "number": "1"}, 404)
    for body in ({}, {"queue": "support"}, {"queue": "support", "number": 5, "x": 1}):
        await post(client, base + "/api/callbacks", body, 400)
    async with client.delete(base + f"/api/callbacks/{row['id']}") as response:
        assert response.status == 202
        assert (await response.json())["callback"]["state"] == "cancelled"
    store.flush()
    async with client.delete(base + f"/api/callbacks/{row['id']}") as response:
        assert response.status == 404  # over: nothing left to cancel


async def test_campaigns_show_their_figures_and_follow_start_pause_stop(
    base: str, client: aiohttp.ClientSession, store: SqliteStore
) -> None:
    """The settings' campaigns with their figures; start, pause and stop write the state
    the campaign's runner follows, as `callflow campaigns` does."""
    [spring] = (await get(client, base + "/api/campaigns"))["campaigns"]
    assert (spring["campaign"], spring["state"], spring["attempts"]) == ("spring", "paused", 0)
    for action in ("start", "pause", "stop"):
        done = await post(client, base + f"/api/campaigns/spring/{action}", None, 202)
        store.flush()
        state = (await get(client, base + "/api/campaigns/spring"))["state"]
        assert (
            done["state"] == state == {"start": "running", "pause": "paused"}.get(action, "stopped")
        )
    await post(client, base + "/api/campaigns/spring/restart", None, 400)
    await get(client, base + "/api/campaigns/autumn", 404)


def three_callers(store: SqliteStore) -> None:
    """From 09:00 on 2026-12-01 in support: a answered after 10 s (talk 50 s), b hangs up
    after 60 s, c after 2 s (a short abandon)."""
    t0 = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)

    def at(seconds: float) -> dt.datetime:
        return t0 + dt.timedelta(seconds=seconds)

    store.append("queue.enter", "a", {"queue": "support", "position": 1}, at=at(0))
    store.append("queue.connect", "a", {"queue": "support", "agent": "alice", "waited": 10},
                 at=at(10))  # fmt: skip
    store.append("queue.complete", "a", {"queue": "support", "agent": "alice", "talk": 50},
                 at=at(60))  # fmt: skip
    store.append("queue.enter", "b", {"queue": "support", "position": 1}, at=at(100))
    store.append("queue.abandon", "b", {"queue": "support", "waited": 60}, at=at(160))
    store.append("queue.enter", "c", {"queue": "support", "position": 1}, at=at(200))
    store.append("queue.abandon", "c", {"queue": "support", "waited": 2}, at=at(202))


async def test_kpis_of_an_interval_come_from_the_event_log(
    base: str, client: aiohttp.ClientSession, store: SqliteStore
) -> None:
    """Three callers today: one answered in 10 s, one abandoned after 60 s, one after 2 s
    (a short abandon): abandon rate 1/2, SL 1/2, as callflow report --json gives them."""
    three_callers(store)
    report = await get(
        client, base + "/api/kpis?from=2026-12-01&to=2026-12-01&interval=1d&queue=support"
    )
    [whole] = report["total"]
    assert (whole["offered"], whole["handled"], whole["short_abandons"]) == (3, 1, 1)
    assert whole["abandon_rate"] == 0.5 and whole["sl"] == 0.5
    bad = await get(client, base + "/api/kpis?from=2026-12-06&to=2026-12-01", 400)
    assert "after" in bad["message"]
    assert (await get(client, base + "/api/kpis?interval=2h", 400))["error"] == "bad_request"
    assert (await get(client, base + "/api/kpis?tz=Mars/Olympus", 400))["error"] == "bad_request"


async def test_staffing_plans_from_the_traffic_in_the_event_log(
    base: str, client: aiohttp.ClientSession, store: SqliteStore
) -> None:
    """The same three callers between 09:00 and 10:00: 3 an hour, AHT 50 s, 2 hung up
    after 72 s waited in all (a mean patience of 36 s); the plan is the one
    callflow.queue.staffing makes of that traffic, as callflow staffing --json gives it."""
    three_callers(store)
    hour = "from=2026-12-01T09:00:00Z&to=2026-12-01T10:00:00Z"
    found = await get(client, f"{base}/api/staffing?{hour}&goal=0.9")
    [support] = found["plans"]
    assert support["queue"] == "support" and support["source"] == "measured"
    assert support["seen"]["entered"] == 3 and support["seen"]["abandoned"] == 2
    assert (support["calls_per_hour"], support["aht"], support["patience"]) == (3.0, 50.0, 36.0)
    expected = plan("support", Traffic(3 / 3600, 50.0, 36.0), within=20.0, goal=0.9, short=5.0)
    assert support["needed"] == expected.needed
    assert support["rows"] == [row.to_dict() for row in expected.rows]
    assert found["start"].startswith("2026-12-01T09:00:00")
    nothing = await get(client, f"{base}/api/staffing?{hour}&queue=sales", 404)
    assert nothing["error"] == "no_traffic"
    for query in ("goal=80", "max_abandon=0", "service_level=-1", "from=2026-12-06&to=2026-12-01"):
        assert (await get(client, f"{base}/api/staffing?{query}", 400))["error"] == "bad_request"


async def test_every_route_is_in_the_openapi_document_and_nothing_else(
    server: ApiServer, base: str, client: aiohttp.ClientSession
) -> None:
    """The served OpenAPI file documents exactly the routes the server has, and their
    methods; it is OpenAPI 3."""
    async with client.get(base + "/api/openapi.yaml") as response:
        assert response.status == 200
        document = yaml.safe_load(await response.text())
    assert document["openapi"].startswith("3.")
    documented = {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method != "parameters"
    }
    served = set()
    for route in server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path and not path.startswith("/wallboard"):
            served.add((route.method, path))
    assert documented == served
