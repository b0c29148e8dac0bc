"""Assemble callflow: settings → flows, store, ARI service; signals and hot reload."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import signal
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

from callflow.api.server import ApiServer
from callflow.app.memory import MemoryReports, keep_trimming
from callflow.app.service import Service
from callflow.app.settings import Settings, SettingsError
from callflow.ari import AriError
from callflow.call.ids import LIFE
from callflow.callback.live import CallbackService
from callflow.dialer.campaign import parse_campaign
from callflow.dialer.live import CampaignRunner
from callflow.ivr import FlowRegistry, FlowRunner, ReloadResult
from callflow.prompts import missing_prompts
from callflow.queue import control
from callflow.queue.config import load_queues
from callflow.queue.live import QueueService
from callflow.store import StoreError, open_store
from callflow.store.nodes import HEARTBEAT, STALE_AFTER, NodeInUse, NodeLife, this_life
from callflow.store.retention import keep_pruning

log = logging.getLogger(__name__)


class App:
    """One running callflow: its flows, its store and its connection to Asterisk."""

    def __init__(
        self,
        settings: Settings,
        *,
        watch_interval: float = 1.0,
        reconnect_delays: Callable[[], Iterator[float]] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.settings = settings
        ari_config = settings.ari_config()  # before anything is created: refuse early
        # Every id this process makes in Asterisk, and every row it writes, name the node.
        LIFE.node = settings.node
        self.store = open_store(settings.store_location, node=settings.node)
        self.queues: QueueService | None = None
        center = None
        if settings.queues is not None:
            center, diagnostics = load_queues(str(settings.queues))
            if center is None:
                raise SettingsError(
                    "the queues have errors:\n" + "\n".join(str(d) for d in diagnostics)
                )
            self.queues = QueueService(center, self.store)
            if settings.sounds_dir is not None:
                missing = missing_prompts([center], settings.sounds_dir)
                if missing:
                    raise SettingsError(
                        "\n".join(
                            f"{settings.queues}: text prompt not built: {text!r}; "
                            "run 'callflow prompts build ... --queues'"
                            for text, _ in missing
                        )
                    )
        # Flows are checked against the queues: known queue names, and the nodes the
        # queues' exit keys and overflows send callers to.
        self.flows = FlowRegistry(settings.flows, prompts_dir=settings.sounds_dir, queues=center)
        self.watch_interval = watch_interval
        # Tasks started by signal handlers: the loop keeps only weak references to tasks.
        self._background: set[asyncio.Task[object]] = set()
        runner = FlowRunner(self.flows, self.store, clock=clock, queues=self.queues)
        self.service = Service(
            ari_config,
            runner,
            shutdown=settings.shutdown,
            recoverer=runner,
            reconnect_delays=reconnect_delays,
        )
        # Callbacks (queues with a `callback:` block): the same scheduler and Router.
        self.callbacks: CallbackService | None = None
        offered = center is not None and any(q.callback for q in center.queues.values())
        if self.queues is not None and offered:
            try:
                self.callbacks = CallbackService(
                    self.queues, self.service, settings.outbound, app=ari_config.apps[0]
                )
            except ValueError as exc:
                raise SettingsError(f"{settings.queues}: callback: {exc}") from None
            runner.callbacks = self.callbacks
        if self.queues is not None:
            # `callflow agents ...` sends these; the answers go to the store.
            self.service.on_user_event(control.EVENT_NAME, control.user_event_handler(self.queues))
        # Outbound campaigns (the `campaigns:` settings): dialed by the same agents and Router.
        self.campaigns = [self._campaign(path, ari_config.apps[0]) for path in settings.campaigns]
        # The supervisor API, wallboard and /metrics (the `api:` settings), in this process.
        self.api: ApiServer | None = None
        if settings.api is not None:
            self.api = ApiServer(
                settings.api,
                store=self.store,
                queues=self.queues,
                service=self.service,
                campaigns=[runner.campaign for runner in self.campaigns],
                latency=self.service.latency,
            )

    def _campaign(self, path: Path, app: str) -> CampaignRunner:
        if self.queues is None:
            raise SettingsError(f"{path}: a campaign needs agents: set 'queues' in the settings")
        campaign, diagnostics = parse_campaign(str(path), path.read_text(encoding="utf-8"))
        if campaign is None:
            raise SettingsError.of([d for d in diagnostics if d.is_error])
        if self.settings.sounds_dir is not None and (
            missing := missing_prompts([campaign], self.settings.sounds_dir)
        ):
            raise SettingsError(
                f"{path}: text prompt not built: {missing[0][0]!r}; run 'callflow prompts build'"
            )
        try:
            return CampaignRunner(
                campaign, self.queues, self.service, self.settings.outbound, app=app
            )
        except ValueError as exc:
            raise SettingsError(f"{path}: {exc}") from None

    async def _say_alive(self, me: NodeLife) -> None:
        """Tell the store this process still runs under its node name (one that stops saying
        so, on another host, may be taken over: :mod:`callflow.store.nodes`)."""
        lost = False
        while True:
            await asyncio.sleep(HEARTBEAT)
            try:
                ours = await asyncio.wrap_future(self.store.node_seen(me))
            except StoreError as exc:
                log.debug("node heartbeat not written: %s", exc)
                continue
            if not ours and not lost:
                log.error(
                    "the store %s: another process took over this node's name %r (this one"
                    " was not heard of for %.0f s): two processes now run under one name,"
                    " and a restart of either takes the other's callers; stop one of them",
                    self.store.path,
                    me.name,
                    STALE_AFTER,
                )
            lost = not ours

    async def _check_sharing(self) -> None:
        """On a store several nodes share, say loudly what would mix their calls up: a node
        with no name, or an Asterisk with no system name (its channel ids, the calls' ids
        in the store, are then only its start time and a counter)."""
        if not self.settings.node:
            log.warning(
                "the store %s is shared, but this node has no name (node: in the settings):"
                " give each node its own, or a restart takes back another node's callers",
                self.store.path,
            )
        await self.service.ready.wait()
        try:
            info = await self.service.ari.asterisk.info(only="config")
        except AriError as exc:
            log.info("could not read Asterisk's system name: %s", exc)
            return
        if not info.system_name:
            log.warning(
                "Asterisk has no systemname (asterisk.conf): its channel ids may equal those of"
                " another node's Asterisk started in the same second, and the shared store"
                " %s would mix their calls up; set a systemname for each Asterisk",
                self.store.path,
            )

    def load_flows(self) -> ReloadResult:
        """The first load of the flows; the caller refuses to start if it failed."""
        return self.flows.load()

    async def run(self, *, install_signals: bool = True) -> None:
        """Serve until stopped; SIGHUP or an edited flow file reloads the flows.

        Raises :class:`~callflow.store.nodes.NodeInUse` (before anything starts) if another
        running callflow holds this node name on this store."""
        loop = asyncio.get_running_loop()
        me = this_life(self.settings.node, str(LIFE), time.time())
        try:
            holder = await asyncio.to_thread(self.store.claim_node, me)
        except StoreError:
            self.store.close()
            raise
        if holder is not None:
            self.store.close()
            raise NodeInUse(self.store.path, holder, time.time())
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._on_stop_signal, sig)
            reload = self.flows.reload_async
            loop.add_signal_handler(
                signal.SIGHUP, lambda: self._in_background(reload("SIGHUP"), "reload")
            )
            reports = MemoryReports()
            loop.add_signal_handler(signal.SIGUSR1, functools.partial(self._report, reports))
        watcher = asyncio.create_task(self._watch_flows(), name="flow-watcher")
        chores = [
            watcher,
            asyncio.create_task(keep_trimming(), name="malloc-trim"),
            asyncio.create_task(self._say_alive(me), name="node-heartbeat"),
        ]
        if self.settings.store_retention_days:
            days = self.settings.store_retention_days
            chores.append(asyncio.create_task(keep_pruning(self.store, days), name="retention"))
        if self.store.shared:
            chores.append(asyncio.create_task(self._check_sharing(), name="sharing-check"))
        if self.queues is not None:
            await self.queues.start()
        if self.callbacks is not None:
            self.callbacks.start()
        for runner in self.campaigns:
            runner.start()
        try:
            if self.api is not None:
                await self.api.start()
            await self.service.run()
        finally:
            for runner in self.campaigns:
                await runner.stop()
            if self.api is not None:
                await self.api.stop()
            if self.callbacks is not None:
                await self.callbacks.stop()
            if self.queues is not None:
                await self.queues.stop()
            for chore in chores:
                chore.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await chore
            if install_signals:
                for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
                    loop.remove_signal_handler(sig)
            self.store.release_node(me)
            self.store.close()

    def _report(self, memory: MemoryReports) -> None:
        """``kill -USR1``: what holds memory, and how fast callflow and Asterisk answer."""
        log.warning("%s", memory.report())
        log.warning("%s", self.service.latency.report())

    async def stop(self) -> None:
        """Stop serving (calls in progress get a short grace period)."""
        for runner in self.campaigns:  # no new call; those in progress end while ARI is up
            await runner.stop(grace=self.settings.shutdown.grace)
        if self.callbacks is not None:
            await self.callbacks.release()
        await self.service.stop()

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        log.info("%s received: stopping", sig.name)
        self._in_background(self.stop(), "stop")

    def _in_background(self, work: Coroutine[Any, Any, object], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[object]) -> None:
        self._background.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("%s after a signal failed", task.get_name(), exc_info=exc)

    async def _watch_flows(self) -> None:
        # Polling the files' mtimes: portable, no extra dependency, and a second is plenty
        # for a person saving a file.
        while True:
            await asyncio.sleep(self.watch_interval)
            if self.flows.changed():
                await self.flows.reload_async("file changed")
