"""The JSON routes of the supervisor API (``/api/...``), documented in ``openapi.yaml``.

Every answer is JSON; every problem is ``{"error": code, "message": text}`` with its HTTP
status: 400 a malformed request, 401 no or a wrong token (:mod:`callflow.api.auth`), 404 an
unknown queue, agent, callback or campaign, 409 an agent change the agent's state does not
allow (or a callback in a queue that offers none), 422 a number that may not be called, 503
no queues configured.

Agent changes go through :func:`callflow.queue.control.handle_agent_command`, the very
function ``callflow agents`` reaches over ARI: the same checks, the same refusals, and the
same ``agent.command`` answer in the event log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from importlib import resources
from typing import Any, NoReturn
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from aiohttp import web

from callflow.api import views
from callflow.api.kpis import report, staffing
from callflow.callback.number import Refused
from callflow.callback.requests import NoCallbacks, cancel_row, submitted_row
from callflow.dialer.campaign import Campaign
from callflow.dialer.live import PAUSED, RUNNING, STOPPED
from callflow.dialer.screen import NothingPresented, agent_lead, ask
from callflow.dialer.status import status_of
from callflow.kpi import Rules
from callflow.kpi.intervals import INTERVALS, parse_moment
from callflow.kpi.staffing import NoTraffic
from callflow.queue.control import ACTIONS, handle_agent_command
from callflow.queue.live import QueueService
from callflow.store import SqlStore

MAX_RANGE = dt.timedelta(days=92)
"""The longest range one KPI request may ask for."""
STAFFING_RANGE = dt.timedelta(hours=1)
"""The traffic ``/api/staffing`` plans from when no ``from`` is given: the last hour."""
AGENT_ACTIONS = tuple(a for a in ACTIONS if a != "status")
CAMPAIGN_ACTIONS = {"start": RUNNING, "pause": PAUSED, "stop": STOPPED}


def openapi_text() -> str:
    """The OpenAPI 3 document of these routes."""
    return resources.files("callflow.api").joinpath("openapi.yaml").read_text()


class Problem(Exception):
    """A request that cannot be served; :func:`problems` answers it as JSON."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message


def problem(status: int, error: str, message: str) -> NoReturn:
    """Stop the request with a JSON problem."""
    raise Problem(status, error, message)


@web.middleware
async def problems(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Word a :class:`Problem`, and aiohttp's own 404 and 405, as JSON problems."""
    try:
        return await handler(request)
    except Problem as exc:
        return _json({"error": exc.error, "message": exc.message}, exc.status)
    except web.HTTPNotFound:
        return _json({"error": "not_found", "message": f"no route {request.path}"}, 404)
    except web.HTTPMethodNotAllowed as exc:
        allowed = ", ".join(sorted(exc.allowed_methods))
        message = f"{request.method} is not allowed here (allowed: {allowed})"
        return _json({"error": "method_not_allowed", "message": message}, 405)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


class Routes:
    """The handlers, over the live queue service and the store."""

    def __init__(
        self,
        queues: QueueService | None,
        store: SqlStore,
        *,
        campaigns: Sequence[Campaign] = (),
        wall: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.queues = queues
        self.store = store
        self.campaigns = tuple(campaigns)
        self.wall = wall or (lambda: dt.datetime.now(dt.UTC))

    def table(self) -> list[web.RouteDef]:
        return [
            web.get("/api/openapi.yaml", self.openapi),
            web.get("/api/queues", self.list_queues),
            web.get("/api/queues/{queue}", self.one_queue),
            web.get("/api/queues/{queue}/callers", self.queue_callers),
            web.get("/api/callers", self.callers),
            web.get("/api/agents", self.list_agents),
            web.get("/api/agents/{agent}", self.one_agent),
            web.post("/api/agents/{agent}", self.change_agent),
            web.get("/api/agents/{agent}/lead", self.agent_lead),
            web.post("/api/agents/{agent}/preview/{action}", self.preview_action),
            web.get("/api/callbacks", self.list_callbacks),
            web.post("/api/callbacks", self.request_callback),
            web.delete("/api/callbacks/{callback}", self.cancel_callback),
            web.get("/api/campaigns", self.list_campaigns),
            web.get("/api/campaigns/{campaign}", self.one_campaign),
            web.post("/api/campaigns/{campaign}/{action}", self.campaign_action),
            web.get("/api/kpis", self.kpis),
            web.get("/api/staffing", self.staffing),
        ]

    # --- helpers ---------------------------------------------------------------------

    def _service(self) -> QueueService:
        if self.queues is None:
            problem(503, "no_queues", "this callflow runs no queues (the 'queues' setting)")
        return self.queues

    def _queue(self, request: web.Request) -> str:
        name = request.match_info["queue"]
        if name not in self._service().center.queues:
            problem(404, "unknown_queue", f"no queue '{name}'")
        return name

    def _agent(self, request: web.Request) -> str:
        name = request.match_info["agent"]
        if name not in self._service().router.agents:
            problem(404, "unknown_agent", f"no agent '{name}'")
        return name

    # --- routes ----------------------------------------------------------------------

    async def openapi(self, request: web.Request) -> web.Response:
        return web.Response(text=openapi_text(), content_type="application/yaml")

    async def list_queues(self, request: web.Request) -> web.Response:
        service = self._service()
        return _json({"queues": views.queue_views(service.router, service.clock())})

    async def one_queue(self, request: web.Request) -> web.Response:
        name = self._queue(request)
        service = self._service()
        return _json(views.queue_view(service.router, name, service.clock()))

    async def queue_callers(self, request: web.Request) -> web.Response:
        name = self._queue(request)
        service = self._service()
        return _json({"callers": views.caller_views(service.router, service.clock(), name)})

    async def callers(self, request: web.Request) -> web.Response:
        service = self._service()
        return _json({"callers": views.caller_views(service.router, service.clock())})

    async def list_agents(self, request: web.Request) -> web.Response:
        return _json({"agents": views.agent_views(self._service().router)})

    async def one_agent(self, request: web.Request) -> web.Response:
        name = self._agent(request)
        return _json(views.agent_view(self._service().router.agents[name]))

    async def change_agent(self, request: web.Request) -> web.Response:
        """``{"action": "login" | "logout" | "pause" | "unpause", "reason": "..."}``."""
        name = self._agent(request)
        body = await _body(request)
        unknown = sorted(set(body) - {"action", "reason"})
        if unknown:
            problem(400, "bad_request", f"unknown field '{unknown[0]}' (expected action, reason)")
        action = body.get("action")
        if action not in AGENT_ACTIONS:
            problem(400, "bad_request", f"'action' must be one of {', '.join(AGENT_ACTIONS)}")
        command: dict[str, object] = {"request": uuid.uuid4().hex, "action": action, "agent": name}
        if "reason" in body:
            # The request's shape; whether the agent's state allows it is control's to say.
            if action != "pause" or not isinstance(body["reason"], str):
                problem(400, "bad_request", "'reason' is text, given with pause only")
            command["reason"] = body["reason"]
        answer = handle_agent_command(self._service(), command)
        if not answer["ok"]:
            problem(409, "refused", str(answer["error"]))
        return _json(
            {
                "ok": True,
                "request": answer["request"],
                "agent": views.agent_view(self._service().router.agents[name]),
            }
        )

    async def agent_lead(self, request: web.Request) -> web.Response:
        """The agent's screen: the lead presented to or connected with them, with its
        fields (:func:`callflow.dialer.screen.agent_lead`); 404 when none."""
        name = self._agent(request)
        lead = await asyncio.to_thread(agent_lead, self.store, self.campaigns, name)
        if lead is None:
            problem(404, "no_lead", f"no lead is presented to or connected with {name}")
        return _json({"lead": lead})

    async def preview_action(self, request: web.Request) -> web.Response:
        """``accept`` or ``skip`` the lead presented to the agent, as ``callflow campaigns
        preview`` does: asked of the campaign's runner, which answers within a second."""
        name = self._agent(request)
        action = request.match_info["action"]
        if action not in ("accept", "skip"):
            problem(400, "bad_request", "the action is accept or skip")
        try:
            asked = await asyncio.to_thread(
                functools.partial(ask, self.store, self.campaigns, name, action, source="api")
            )
        except NothingPresented as exc:
            problem(409, "nothing_presented", str(exc))
        return _json(asked, 202)

    async def list_callbacks(self, request: web.Request) -> web.Response:
        queue = request.query.get("queue")
        return _json({"callbacks": await self.store.live_callbacks_async(queue)})

    async def request_callback(self, request: web.Request) -> web.Response:
        """``{"queue": name, "number": text}``: checked with the queue's number rules, as
        ``callflow callbacks request`` does; the running app books it within a second."""
        body = await _body(request)
        queue_name, number = body.get("queue"), body.get("number")
        if set(body) - {"queue", "number"} or not (
            isinstance(queue_name, str) and isinstance(number, str)
        ):
            problem(400, "bad_request", 'a callback request is {"queue": name, "number": text}')
        queue = self._service().center.queues.get(queue_name)
        if queue is None:
            problem(404, "unknown_queue", f"no queue '{queue_name}'")
        try:
            row = submitted_row(queue, number, time.time(), source="the API")
        except NoCallbacks as exc:
            problem(409, "no_callbacks", str(exc))
        if isinstance(row, Refused):
            problem(422, "refused", f"{row.reason.value}: {row.detail}")
        self.store.save_callback(row)
        return _json({"callback": row}, 202)

    async def cancel_callback(self, request: web.Request) -> web.Response:
        """Give up a live callback, as ``callflow callbacks cancel`` does."""
        callback = request.match_info["callback"]
        asked = cancel_row(self.store.load_callback(callback), source="api")
        if asked is None:
            problem(404, "unknown_callback", f"no live callback '{callback}'")
        self.store.save_callback(asked)
        return _json({"callback": asked}, 202)

    def _campaign(self, request: web.Request) -> Campaign:
        name = request.match_info["campaign"]
        for campaign in self.campaigns:
            if campaign.name == name:
                return campaign
        problem(404, "unknown_campaign", f"no campaign '{name}'")

    async def list_campaigns(self, request: web.Request) -> web.Response:
        now = time.time()
        return _json({"campaigns": [status_of(c, self.store, now) for c in self.campaigns]})

    async def one_campaign(self, request: web.Request) -> web.Response:
        return _json(status_of(self._campaign(request), self.store, time.time()))

    async def campaign_action(self, request: web.Request) -> web.Response:
        """``start``, ``pause`` or ``stop``, as ``callflow campaigns`` does: the state is
        written to the store and the campaign's runner follows it within a second."""
        campaign = self._campaign(request)
        action = request.match_info["action"]
        state = CAMPAIGN_ACTIONS.get(action)
        if state is None:
            problem(400, "bad_request", f"the action is one of {', '.join(CAMPAIGN_ACTIONS)}")
        self.store.set_campaign_state(campaign.name, state)
        return _json({"campaign": campaign.name, "state": state}, 202)

    async def kpis(self, request: web.Request) -> web.Response:
        """``?from=&to=`` (ISO 8601 dates or moments; default: today so far), ``interval``
        (15m, 1h, 1d), ``queue``, ``tz``, ``short_abandon``, ``service_level`` (seconds)."""
        q = request.query
        tz = _zone(q.get("tz", "UTC"))
        now = self.wall()
        start = _moment(q["from"], tz) if "from" in q else _midnight(now, tz)
        end = _moment(q["to"], tz, end=True) if "to" in q else start + dt.timedelta(days=1)
        if end <= start:
            problem(400, "bad_request", "'to' must be after 'from'")
        if end - start > MAX_RANGE:
            problem(400, "bad_request", f"at most {MAX_RANGE.days} days at once")
        interval = q.get("interval", "1h")
        if interval not in INTERVALS:
            problem(400, "bad_request", f"'interval' must be one of {', '.join(INTERVALS)}")
        rules = Rules(
            short_abandon=_seconds(q, "short_abandon", Rules.short_abandon),
            service_level=_seconds(q, "service_level", Rules.service_level),
        )
        found = await asyncio.to_thread(
            functools.partial(
                report,
                self.store,
                start,
                end,
                now=now,
                interval=interval,
                rules=rules,
                queue=q.get("queue") or None,
                tz=tz,
            )
        )
        return _json(found.to_dict())

    async def staffing(self, request: web.Request) -> web.Response:
        """``?from=&to=`` (default: the last hour), ``queue``, ``tz``, ``goal`` (a share,
        default 0.8), ``service_level`` and ``short_abandon`` (seconds), ``max_abandon``
        (a share): each queue's traffic measured over the range and the agents it needs
        (Erlang A, beside Erlang C), as ``callflow staffing --json``."""
        q = request.query
        tz = _zone(q.get("tz", "UTC"))
        now = self.wall()
        end = _moment(q["to"], tz, end=True) if "to" in q else now
        start = _moment(q["from"], tz) if "from" in q else end - STAFFING_RANGE
        if min(end, now) <= start:
            problem(400, "bad_request", "'to' must be after 'from', and 'from' before now")
        if end - start > MAX_RANGE:
            problem(400, "bad_request", f"at most {MAX_RANGE.days} days at once")
        rules = Rules(
            short_abandon=_seconds(q, "short_abandon", Rules.short_abandon),
            service_level=_seconds(q, "service_level", Rules.service_level),
        )
        goal = _share(q, "goal", 0.8)
        max_abandons = _share(q, "max_abandon", None) if "max_abandon" in q else None
        try:
            plans = await asyncio.to_thread(
                functools.partial(
                    staffing,
                    self.store,
                    start,
                    end,
                    now=now,
                    rules=rules,
                    queue=q.get("queue") or None,
                    goal=goal,
                    max_abandons=max_abandons,
                )
            )
        except NoTraffic as exc:
            problem(404, "no_traffic", str(exc))
        except ValueError as exc:  # a goal no number of agents reaches
            problem(400, "bad_request", str(exc))
        return _json({"start": start.isoformat(), "end": min(end, now).isoformat(), "plans": plans})


async def _body(request: web.Request) -> Mapping[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        problem(400, "bad_request", "the body must be a JSON object")
    if not isinstance(body, dict):
        problem(400, "bad_request", "the body must be a JSON object")
    return body


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        problem(400, "bad_request", f"unknown time zone '{name}'")


def _moment(text: str, tz: dt.tzinfo, end: bool = False) -> dt.datetime:
    """A date (``2026-12-06``: its midnight; as ``to``, the next midnight) or a moment."""
    try:
        return parse_moment(text, tz, end)
    except ValueError as exc:
        problem(400, "bad_request", str(exc))


def _midnight(now: dt.datetime, tz: dt.tzinfo) -> dt.datetime:
    local = now.astimezone(tz)
    return dt.datetime.combine(local.date(), dt.time(), tz)


def _share(query: Mapping[str, str], key: str, default: float | None) -> float:
    text = query.get(key)
    try:
        value = float(text) if text is not None else default
    except ValueError:
        value = None
    if value is None or not 0.0 < value < 1.0:
        problem(400, "bad_request", f"'{key}' must be a share between 0 and 1 (0.8 for 80 %)")
    return value


def _seconds(query: Mapping[str, str], key: str, default: float) -> float:
    if key not in query:
        return default
    try:
        value = float(query[key])
    except ValueError:
        value = -1.0
    if not 0 <= value <= 86_400:
        problem(400, "bad_request", f"'{key}' must be seconds from 0 to 86400")
    return value
