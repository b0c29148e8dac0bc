"""The supervisor's HTTP server in the ``callflow run`` process: the JSON API, the wallboard
and ``/metrics``, on one aiohttp server behind one token.

The app wires it (:class:`callflow.app.main.App`): :class:`ApiServer` is given the queue
service, the store and the ARI service, taps the event log (for the counters and to wake the
wallboard), counts the service's connections, and runs two small tasks of its own: the
wallboard's pusher and the loop-lag probe.

``/metrics`` asks for the token like every other route: Prometheus sends it with
``authorization: {type: Bearer, credentials_file: ...}`` in its scrape config. Only the
wallboard's page and login form answer without it (the page's WebSocket needs the cookie).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from callflow.api.auth import token_middleware
from callflow.api.metrics import ConnectionCounter, EventTap, Metrics
from callflow.api.routes import Routes, problems
from callflow.api.settings import ApiSettings
from callflow.api.wallboard import Board
from callflow.ari.latency import LatencyMeter
from callflow.dialer.campaign import Campaign
from callflow.queue.live import QueueService
from callflow.store import SqlStore

log = logging.getLogger(__name__)


class ApiServerError(Exception):
    """The server cannot listen (the address is taken, or not this machine's)."""


class CallService(Protocol):
    """What the server reads of the ARI service: its calls and whether it is connected."""

    @property
    def calls(self) -> Mapping[str, Any]: ...

    ready: asyncio.Event


class ApiServer:
    """The API, the wallboard and the metrics of one running callflow."""

    def __init__(
        self,
        settings: ApiSettings,
        *,
        store: SqlStore,
        queues: QueueService | None,
        service: CallService,
        campaigns: Sequence[Campaign] = (),
        latency: LatencyMeter | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        # The service's ready event, counting connections (it is set on every one).
        self.connection = ConnectionCounter(service.ready)
        service.ready = self.connection
        self.metrics = Metrics(queues, lambda: len(service.calls), self.connection)
        self.metrics.watch_store(lambda: store.health)
        if latency is not None:
            latency.listen(self.metrics.on_latency)
        self.board = Board(queues, store)
        tap = EventTap(store)
        tap.listen(self.metrics.on_event)
        tap.listen(self.board.on_event)
        self.routes = Routes(queues, store, campaigns=campaigns)
        self.app = web.Application(middlewares=[problems, token_middleware(settings.token)])
        self.app.add_routes(self.routes.table())
        self.app.add_routes(self.board.routes(settings.token))
        self.app.add_routes([web.get("/metrics", self._metrics)])
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.port: int | None = None  # the port bound, once started

    async def start(self) -> None:
        """Listen, and start the wallboard's pusher and the loop-lag probe."""
        runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.settings.bind, self.settings.port)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise ApiServerError(
                f"the api cannot listen on {self.settings.bind}:{self.settings.port}: "
                f"{exc.strerror or exc}"
            ) from exc
        self._runner = runner
        server = site._server  # the port actually bound (port 0: any free one)
        sockets = getattr(server, "sockets", None) or ()
        self.port = sockets[0].getsockname()[1] if sockets else self.settings.port
        self._tasks = [
            asyncio.create_task(self.board.run(), name="wallboard"),
            asyncio.create_task(self.metrics.measure_loop_lag(), name="loop-lag"),
        ]
        log.info(
            "supervisor API, wallboard and metrics on http://%s:%s (token required)",
            self.settings.bind,
            self.port,
        )
        if not self.settings.loopback:
            log.warning(
                "the api listens on %s, beyond this machine, over plain HTTP: put TLS in front",
                self.settings.bind,
            )

    async def stop(self) -> None:
        """Close the pages' sockets, stop the tasks and the server."""
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.board.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _metrics(self, request: web.Request) -> web.Response:
        # The callbacks' table is read off the loop, before the sync exposition.
        self.metrics.live_callbacks = await self.store.live_callbacks_async()
        body = generate_latest(self.metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
