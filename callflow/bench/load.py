"""The load benchmark: how many waiting callers callflow holds, against Asterisk's app_queue.

A second sandbox Asterisk (the sandbox PSTN, from the same rootfs, with the generator's
dialplan ``docker/asterisk/pstn/dialplan/load.conf``) places N concurrent SIP calls (ulaw,
RTP both ways: it plays music into each call) over the trunk into the contact center's
Asterisk. Each system gets the same callers and the same scenario, one after the other on
the same machine:

``callflow``
    ``callflow run`` in its own process, the queue of ``config/bench-load/``: no agent,
    music, position and wait every 30 s, a periodic prompt every 30 s.
``app_queue``
    Asterisk's own ``Queue(bench-load)`` (``docker/asterisk/etc/queues.conf``), the same.
``minimal``
    the ceiling: ``callflow/bench/load_minimal.py``, every caller in one holding bridge
    with the bridge's shared music, nothing else.

For each system and each step N the bench ramps the calls up (``--rate`` a second), holds
them ``--hold`` seconds (the figures below cover the hold only); every call then ends itself
(at a second the bench gave it) and the bench reads:

- calls up: Up trunk channels at the generator, and callers the system holds (in a holding
  bridge for the ARI apps, in ``Queue`` for app_queue), at the end of the hold;
- CPU of each process (% of one core, ``/proc/<pid>/stat`` utime+stime over the hold): the
  center's Asterisk, the app (callflow or the minimal app; none for app_queue), the
  generator's Asterisk;
- RTP loss both ways from the generator's ``CHANNEL(rtcp,all,audio)`` of each call (chan_sip
  called it ``rtpqos``), stored as the bench ends the call: ``lp`` packets it did not receive
  of the center's, ``rlp`` packets the center reported (RTCP) not receiving of the
  generator's; and ``rx/50``, packets received per answered second against 50 (a center
  too busy to send its audio on time sends less, without a sequence gap to count as lost);
- kernel UDP drops: machine-wide (``/proc/net/snmp`` Udp InErrors and RcvbufErrors, others'
  sockets too) and on the rig's own SIP and RTP sockets (``/proc/net/udp``'s ``drops``);
- event -> command latency, on Asterisk's own timestamps: ``join``, the caller entering
  Stasis (``ChannelDialplan`` to ``Stasis``) to the caller in the holding bridge
  (``ChannelEnteredBridge``, for the holding bridges the observer subscribed to in time);
  ``join`` also has the app's first effect (the answer, a playback, the bridge);
  ``prompt``, a playback's ``PlaybackFinished`` to the next thing the app makes happen to
  that caller (the next ``PlaybackStarted``, a bridge change) within 1 s, before the
  caller hangs up: the next part of an announcement played one part at a time (0 when the
  app queued it ahead; a restart of the music has no ARI event, so it is not seen). callflow
  says each announcement in one playback and reacts to none ending: no figure (``-``);
- callflow's own share of that (``cmd``, ``rtt``), from its latency report (``kill -USR1``
  before the ramp and after the hold, :mod:`callflow.ari.latency`): ``cmd``, Asterisk's
  timestamp on each caller's ``StasisStart`` to callflow sending its first request for that
  caller, the event -> command latency proper; ``rtt``, callflow's requests from sent to
  answered by Asterisk; ``deliv``, the first part of ``cmd``: Asterisk's timestamp to
  callflow reading the event off its socket (Asterisk's event queue, the socket, and
  callflow's loop getting to the read); ``in task``, the last part, from the call's task
  starting to the request (callflow's flow). ``join`` and ``bridge``
  are ``cmd`` plus Asterisk's work, and under load Asterisk's work is most of them;
- ``runq``: how long callflow's event-loop thread waited for a CPU while the callers
  arrived (runnable but not running, ``/proc/<pid>/schedstat``), in ms per second of the
  ramp: a machine saturated by the two Asterisks makes callflow late however little it
  does, and this says by how much;
- ``ast thr`` and ``cs/s/call``: the center Asterisk's threads at the end of the hold, and
  its threads' context switches (``/proc/<pid>/task/*/status``) per second per call over
  the hold. Most of Asterisk's CPU here is the kernel's (a profile at 300 callers: 76-81 %
  of its samples, 36-38 % in switching threads), the same for every system: a thread per
  channel, woken for each packet in and each frame out;
- callflow's RSS; errors (ERROR lines of the app's log, failed originates, calls never up).

Why an observer on the trunk's endpoint (``endpoint:PJSIP/pstn``) rather than
``subscribeAll``: every event of the callers' channels reaches it, and nothing else;
``subscribeAll`` would also take every device state, and an app subscribed to everything
can deadlock Asterisk 22 under load when it goes away (asterisk#2170). Measuring inside
callflow would show when its loop saw the event, not when Asterisk sent it: ``cmd`` starts
from Asterisk's own timestamp for that reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from callflow.app import logs
from callflow.ari import AriClient, AriConfig
from callflow.ari import errors as ari_errors
from callflow.ari.events import (
    ChannelEnteredBridge,
    ChannelLeftBridge,
    Event,
    PlaybackEvent,
)
from callflow.ari.latency import Latency, parse_report
from callflow.bench.connect import Observer, _Callflow, percentile
from callflow.bench.load_minimal import APP as MINIMAL_APP
from callflow.sandbox import Sandbox, SandboxError, SandboxInfo
from callflow.sandbox.instance import rx
from callflow.sandbox.pstn import TRUNK_USER, PstnPlan, pstn_name, render_numbers, trunk_config
from callflow.sandbox.recipe import PSTN_DIR, REPO_ROOT
from callflow.sandbox.rootfs import RootfsError

SANDBOX_NAME = "bench-load"
OBSERVER_APP = "callflow-bench-load-observer"
CONFIG_DIR = REPO_ROOT / "config" / "bench-load"
CENTER_CONTEXT = "bench-load-inbound"  # dialplan/bench-load.conf
SYSTEMS = {"callflow": "100", "app_queue": "200", "minimal": "300"}
DEFAULT_STEPS = (100, 200, 300, 400, 500)
RTP_PACKETS_PER_S = 50  # ulaw, 20 ms packets
PROMPT_FOLLOW_S = 1.0
SETTLE_S = 3.0  # after the ramp, for the last calls to be answered
MAX_ORIGINATING = 50  # originate requests in flight at once
CLEAN_LOSS = 0.001  # < 0.1 % RTP loss, no call lost: the "clean"
CLEAN_RATE = 0.99
"""And the callers got, all together, at least 99 % of their 50 packets a second (``rx/50``
over every call's answered time): a center that cannot keep time sends less audio with no
sequence gap for the loss to count (app_queue at 500 once sent 86 % with 0 % lost), and a
caller hears that as music with holes."""


class LoadBenchError(Exception):
    """The load bench could not run (a sandbox, a process, or a measurement failed)."""


# --- reading what Asterisk and the kernel say (pure) -----------------------------------


def parse_rtcp_all(text: str) -> dict[str, float]:
    """chan_pjsip's ``CHANNEL(rtcp,all,audio)`` (chan_sip's ``rtpqos``):
    ``ssrc=1;themssrc=2;lp=0;rxjitter=0.000;...`` as numbers (others are left out)."""
    values: dict[str, float] = {}
    for part in text.strip().split(";"):
        key, sep, value = part.partition("=")
        if not sep:
            continue
        with contextlib.suppress(ValueError):
            values[key.strip()] = float(value)
    return values


@dataclass(frozen=True, slots=True)
class CallQos:
    """One generated call's RTP, as its trunk channel saw it at hangup."""

    answered: float | None  # epoch seconds; None: never answered
    ended: float
    received: int  # packets from the center
    lost_in: int  # of the center's packets, not received here
    sent: int  # packets to the center
    lost_out: int  # of ours, reported lost by the center (RTCP)
    dropped: bool = False  # the center hung up before the bench did

    @property
    def seconds_up(self) -> float:
        """How long the call was answered."""
        return 0.0 if self.answered is None else max(0.0, self.ended - self.answered)


def parse_qos_record(value: str) -> CallQos:
    """One value the generator stored at the end of a call: ``answered|ended|rtpqos``, or
    ``answered|ended|center-hung-up`` when the contact center ended it first."""
    answered, sep1, rest = value.strip().partition("|")
    ended, sep2, qos_text = rest.partition("|")
    if not (sep1 and sep2):
        raise ValueError(f"not an answered|ended|rtpqos record: {value!r}")
    qos = parse_rtcp_all(qos_text)
    dropped = qos_text.strip() == "center-hung-up"
    if not qos and not dropped:
        raise ValueError(f"no RTP figures in {value!r}")
    return CallQos(
        answered=float(answered) if answered.strip() else None,
        ended=float(ended),
        received=int(qos.get("rxcount", 0)),
        lost_in=max(0, int(qos.get("lp", 0))),
        sent=int(qos.get("txcount", 0)),
        lost_out=max(0, int(qos.get("rlp", 0))),
        dropped=dropped,
    )


_DB_LINE = re.compile(r"^/(?P<family>[^/]+)/(?P<key>\S+)\s*:\s?(?P<value>.*)$")


def parse_database_show(text: str, family: str) -> dict[str, str]:
    """``database show <family>`` (Asterisk CLI): key -> value."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        match = _DB_LINE.match(line.strip())
        if match and match["family"] == family:
            found[match["key"]] = match["value"].strip()
    return found


def cpu_seconds(stat: str, ticks_per_s: float) -> float:
    """utime + stime of ``/proc/<pid>/stat`` (all its threads), in seconds."""
    # The command name (2nd field) is in parentheses and may hold spaces or ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    # fields[0] is the 3rd field (state); utime and stime are the 14th and 15th.
    return (int(fields[11]) + int(fields[12])) / ticks_per_s


def run_queue_seconds(schedstat: str) -> float:
    """Time a thread has waited on a run queue, runnable but not running (the second field
    of ``/proc/<pid>/schedstat``, ns), in seconds."""
    return int(schedstat.split()[1]) / 1e9


def context_switches(status: str) -> int:
    """Voluntary and involuntary context switches of one thread, from its
    ``/proc/<pid>/task/<tid>/status``: each a thread put to sleep (waiting on a socket, a
    timer, a lock) or pre-empted, and woken again."""
    total = 0
    for line in status.splitlines():
        if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
            total += int(line.split()[1])
    return total


def rss_mib(status: str) -> float:
    """VmRSS of ``/proc/<pid>/status``, in MiB."""
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError("no VmRSS line (the process has exited?)")


def socket_drops(proc_net_udp: str, ports: Callable[[int], bool]) -> int:
    """Datagrams the kernel dropped on the UDP sockets whose local port ``ports`` accepts
    (the ``drops`` column of ``/proc/net/udp``), summed."""
    total = 0
    for line in proc_net_udp.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 13 or ":" not in fields[1]:
            continue
        if ports(int(fields[1].rpartition(":")[2], 16)):
            total += int(fields[12])
    return total


def udp_drops(snmp: str) -> int:
    """Udp InErrors + RcvbufErrors of ``/proc/net/snmp`` (the kernel's UDP drops)."""
    lines = [line.split() for line in snmp.splitlines() if line.startswith("Udp:")]
    if len(lines) < 2:
        raise ValueError("no Udp lines in /proc/net/snmp")
    values = dict(zip(lines[0][1:], lines[1][1:], strict=True))
    return int(values["InErrors"]) + int(values["RcvbufErrors"])


# --- event -> command latency from the observer's events (pure) ------------------------


def _when(event: Event) -> float | None:
    return event.timestamp.timestamp() if event.timestamp is not None else None


def _dialplan_app(event: Event) -> str | None:
    if event.type != "ChannelDialplan":
        return None
    app = event.raw.get("dialplan_app")
    return app if isinstance(app, str) else None


def _channel_of(event: Event) -> str | None:
    ids = event.channel_ids()
    return ids[0] if ids else None


def join_latencies(events: Iterable[Event]) -> tuple[list[float], list[float]]:
    """Per caller, ms from entering Stasis to the app's first effect (the channel Up, a
    playback started, or the holding bridge entered, whichever comes first), and to the
    caller in the holding bridge (seen only for bridges the observer followed in time)."""
    entered: dict[str, float] = {}
    first: list[float] = []
    bridged: list[float] = []
    acted: set[str] = set()
    for event in events:
        when = _when(event)
        channel = _channel_of(event)
        if when is None or channel is None:
            continue
        if _dialplan_app(event) == "Stasis":
            entered.setdefault(channel, when)
            continue
        if channel not in entered:
            continue
        holding = isinstance(event, ChannelEnteredBridge) and event.bridge.bridge_type == "holding"
        up = (
            event.type == "ChannelStateChange" and event.raw.get("channel", {}).get("state") == "Up"
        )
        started = isinstance(event, PlaybackEvent) and event.type == "PlaybackStarted"
        if (holding or up or started) and channel not in acted:
            acted.add(channel)
            first.append((when - entered[channel]) * 1000)
        if holding:
            bridged.append((when - entered.pop(channel)) * 1000)
    return first, bridged


# A caller's hang-up: what follows it on their channel (the playback cut, the bridge left)
# is Asterisk's doing, not the app's.
HANGUP_EVENTS = frozenset({"ChannelHangupRequest", "StasisEnd", "ChannelDestroyed"})


def prompt_latencies(events: Iterable[Event], follow_s: float = PROMPT_FOLLOW_S) -> list[float]:
    """Per finished playback, ms to the next thing done to that caller (a playback
    starting, a bridge entered or left) when it follows within ``follow_s`` (a later one
    is the next announcement on its schedule, not a reaction). Nothing after the caller's
    hang-up counts: every call of a step ends at the same second, and an announcement that
    ended just before it, followed by the caller leaving the bridge because they hung up,
    is no reaction of the app's (all of callflow's 'prompt' figures until 2026-12-06)."""
    finished: dict[str, float] = {}
    gone: set[str] = set()
    out: list[float] = []
    for event in events:
        when = _when(event)
        channel = _channel_of(event)
        if when is None or channel is None or channel in gone:
            continue
        if event.type in HANGUP_EVENTS:
            gone.add(channel)
            finished.pop(channel, None)
            continue
        if isinstance(event, PlaybackEvent) and event.type == "PlaybackFinished":
            finished[channel] = when
            continue
        effect = (isinstance(event, PlaybackEvent) and event.type == "PlaybackStarted") or (
            isinstance(event, ChannelEnteredBridge | ChannelLeftBridge)
        )
        if effect and channel in finished:
            gap = when - finished.pop(channel)
            if gap <= follow_s:
                out.append(gap * 1000)
    return out


def announcements_per_caller(log_lines: Iterable[str], channel_prefix: str) -> Counter[str]:
    """Prompts Asterisk played to each caller (``Playing '<file>'`` lines of its log, by
    channel name), music on hold aside: the same count for app_queue and the ARI apps."""
    pattern = re.compile(rf"<({re.escape(channel_prefix)}[^>]+)> Playing '")
    counts: Counter[str] = Counter()
    for line in log_lines:
        match = pattern.search(line)
        if match:
            counts[match[1]] += 1
    return counts


# --- one step's figures (pure) ---------------------------------------------------------


@dataclass
class StepRow:
    """The figures of one system at one step (``None``: not measured)."""

    system: str
    calls: int
    up_generator: int = 0
    up_system: int = 0
    cpu_asterisk: float = math.nan  # % of one core over the hold
    cpu_app: float | None = None  # callflow or the minimal app; None for app_queue
    cpu_generator: float = math.nan
    rtp_loss_in: float = math.nan  # share of the center's packets lost (0..1)
    rtp_loss_out: float = math.nan  # share of the generator's packets lost
    rx_rate: float = math.nan  # packets received per call-second / 50
    udp_drops: int = 0  # machine-wide: others' sockets too
    rig_drops: int = 0  # on the two Asterisks' SIP and RTP sockets
    join_p50: float = math.nan  # Stasis -> the app's first effect, ms
    join_p99: float = math.nan
    bridge_p50: float = math.nan  # Stasis -> in the holding bridge, ms
    bridge_p99: float = math.nan
    prompt_p50: float = math.nan
    prompt_p99: float = math.nan
    command_p50: float = math.nan  # callflow's own: Asterisk's StasisStart -> first request
    command_p99: float = math.nan
    delivered_p50: float = math.nan  # its part from the timestamp to callflow's read
    delivered_p99: float = math.nan
    app_runq: float = math.nan  # ms per s the app's loop thread waited for a CPU, in the ramp
    in_task_p50: float = math.nan  # its part from the call's task starting to the request
    in_task_p99: float = math.nan
    round_trip_p50: float = math.nan  # callflow's requests, sent -> Asterisk's answer
    round_trip_p99: float = math.nan
    asterisk_threads: int = 0  # the center's, at the end of the hold
    asterisk_switches: float = math.nan  # its threads' context switches per s per call
    rss_mib: float | None = None
    announced_min: int = 0  # prompts heard by the caller who heard fewest
    hold_s: float = math.nan  # how long the figures were taken over (less if the ramp ran late)
    errors: int = 0
    notes: list[str] = field(default_factory=list)

    dropped: int = 0  # calls the center hung up during the step

    @property
    def lost_calls(self) -> int:
        """Calls not up at the end of the hold, or hung up by the center meanwhile."""
        return max(self.calls - self.up_generator, self.dropped)

    @property
    def clean(self) -> bool:
        """No call lost, < 0.1 % RTP loss both ways (the issue's 'clean'), and the callers
        were sent, all together, at least 99 % of the audio they should hear (``rx/50``)."""
        return (
            self.lost_calls == 0
            and self.up_system == self.calls
            and _le(self.rtp_loss_in, CLEAN_LOSS, strict=True)
            and _le(self.rtp_loss_out, CLEAN_LOSS, strict=True)
            and math.isfinite(self.rx_rate)
            and self.rx_rate >= CLEAN_RATE
        )

    def to_json(self) -> str:
        """The ``--json`` line (undefined figures are null)."""
        data: dict[str, object] = {"bench": "load", **asdict(self), "clean": self.clean}
        return json.dumps({k: _jsonable(v) for k, v in data.items()})


def _le(value: float, limit: float, *, strict: bool = False) -> bool:
    return math.isfinite(value) and (value < limit if strict else value <= limit)


def _jsonable(value: object) -> object:
    if isinstance(value, float):
        return round(value, 5) if math.isfinite(value) else None
    return value


def rtp_figures(records: Iterable[CallQos]) -> tuple[float, float, float]:
    """Loss in, loss out (shares) and the received packet rate over the calls' answered
    time against 50 a second, over every answered call."""
    answered = [r for r in records if r.answered is not None]
    received = sum(r.received for r in answered)
    lost_in = sum(r.lost_in for r in answered)
    sent = sum(r.sent for r in answered)
    lost_out = sum(r.lost_out for r in answered)
    seconds = sum(r.seconds_up for r in answered)
    loss_in = lost_in / (received + lost_in) if received + lost_in else math.nan
    loss_out = lost_out / sent if sent else math.nan
    rate = received / (seconds * RTP_PACKETS_PER_S) if seconds else math.nan
    return loss_in, loss_out, rate


COLUMNS = (
    "system",
    "calls",
    "hold s",
    "up gen/sys",
    "cpu ast%",
    "cpu app%",
    "cpu gen%",
    "loss in%",
    "loss out%",
    "rx/50",
    "udp drop all/rig",
    "join p50/p99",
    "bridge p50/p99",
    "prompt p50/p99",
    "cmd p50/p99",
    "deliv p50/p99",
    "in task p50/p99",
    "runq ms/s",
    "rtt p50/p99",
    "ast thr",
    "cs/s/call",
    "rss MiB",
    "ann min",
    "errors",
    "clean",
)


def format_table(rows: Sequence[StepRow]) -> list[str]:
    """Aligned text table, one row per system and step."""
    body = [
        (
            r.system,
            str(r.calls),
            _num(r.hold_s, 0),
            f"{r.up_generator}/{r.up_system}",
            _num(r.cpu_asterisk, 1),
            "-" if r.cpu_app is None else _num(r.cpu_app, 1),
            _num(r.cpu_generator, 1),
            _num(r.rtp_loss_in * 100, 3),
            _num(r.rtp_loss_out * 100, 3),
            _num(r.rx_rate, 3),
            f"{r.udp_drops}/{r.rig_drops}",
            f"{_num(r.join_p50, 0)}/{_num(r.join_p99, 0)}",
            f"{_num(r.bridge_p50, 0)}/{_num(r.bridge_p99, 0)}",
            f"{_num(r.prompt_p50, 0)}/{_num(r.prompt_p99, 0)}",
            f"{_num(r.command_p50, 0)}/{_num(r.command_p99, 0)}",
            f"{_num(r.delivered_p50, 0)}/{_num(r.delivered_p99, 0)}",
            f"{_num(r.in_task_p50, 0)}/{_num(r.in_task_p99, 0)}",
            _num(r.app_runq, 0),
            f"{_num(r.round_trip_p50, 0)}/{_num(r.round_trip_p99, 0)}",
            str(r.asterisk_threads or "-"),
            _num(r.asterisk_switches, 0),
            "-" if r.rss_mib is None else _num(r.rss_mib, 0),
            str(r.announced_min),
            str(r.errors),
            "yes" if r.clean else "no",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [COLUMNS, *body]) for i in range(len(COLUMNS))]
    return [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [COLUMNS, *body]
    ]


def _num(value: float, digits: int) -> str:
    return f"{value:.{digits}f}" if math.isfinite(value) else "-"


def verdict_lines(rows: Sequence[StepRow]) -> list[str]:
    """The issue's targets, read off the table: the most callers each system held clean;
    callflow's latency p99 and CPU share at that load; total CPU against app_queue's."""
    best: dict[str, StepRow] = {}
    for row in rows:
        if row.clean and (row.system not in best or row.calls > best[row.system].calls):
            best[row.system] = row
    lines = [
        f"held clean: {system} {best[system].calls if system in best else 0}"
        for system in dict.fromkeys(r.system for r in rows)
    ]
    ours = best.get("callflow")
    if ours is not None:
        worst_p99 = max(
            (v for v in (ours.join_p99, ours.bridge_p99, ours.prompt_p99) if math.isfinite(v)),
            default=math.nan,
        )
        lines.append(
            f"callflow at {ours.calls}: event->command p99 {_num(ours.command_p99, 0)} ms"
            " (target <= 50; Asterisk's StasisStart to callflow's first request;"
            f" delivered to callflow p99 {_num(ours.delivered_p99, 0)} ms,"
            f" in the call's task p99 {_num(ours.in_task_p99, 0)} ms;"
            f" its loop waited {_num(ours.app_runq, 0)} ms/s for a CPU in the ramp)"
        )
        lines.append(
            f"callflow at {ours.calls}: Stasis->effect p99 {_num(worst_p99, 0)} ms"
            " (join, bridge, prompt: with Asterisk's own work;"
            f" ARI round trip p99 {_num(ours.round_trip_p99, 0)} ms)"
        )
        if ours.cpu_app is not None and ours.cpu_asterisk > 0:
            share = ours.cpu_app / ours.cpu_asterisk
            lines.append(f"callflow at {ours.calls}: its CPU / Asterisk's {share:.2f} (<= 0.25)")
        queue = next((r for r in rows if r.system == "app_queue" and r.calls == ours.calls), None)
        if queue is not None and queue.cpu_asterisk > 0:
            ratio = (ours.cpu_asterisk + (ours.cpu_app or 0)) / queue.cpu_asterisk
            lines.append(f"callflow at {ours.calls}: total CPU / app_queue's {ratio:.2f} (<= 0.8)")
    return lines


# --- the live part ---------------------------------------------------------------------


def _read_proc(path: str) -> str:
    return Path(path).read_text()


def _app_run_queue(pid: int) -> float:
    """The app's main thread (its event loop) run-queue wait so far, in seconds."""
    return run_queue_seconds(_read_proc(f"/proc/{pid}/schedstat"))


def _switches(pid: int) -> tuple[int, int]:
    """A process's threads, and their context switches so far (a thread gone since takes
    its count with it)."""
    tasks = os.listdir(f"/proc/{pid}/task")
    total = 0
    for tid in tasks:
        with contextlib.suppress(OSError):  # a thread that ended meanwhile
            total += context_switches(_read_proc(f"/proc/{pid}/task/{tid}/status"))
    return len(tasks), total


class _Cpu:
    """CPU seconds of some processes between two moments, as % of one core."""

    TICKS = float(os.sysconf("SC_CLK_TCK"))

    def __init__(self, pids: Mapping[str, int]) -> None:
        self.pids = dict(pids)
        self.start = {name: self._seconds(pid) for name, pid in self.pids.items()}
        self.started = time.monotonic()

    def _seconds(self, pid: int) -> float:
        return cpu_seconds(_read_proc(f"/proc/{pid}/stat"), self.TICKS)

    def percent(self) -> dict[str, float]:
        elapsed = time.monotonic() - self.started
        out = {}
        for name, pid in self.pids.items():
            try:
                out[name] = (self._seconds(pid) - self.start[name]) / elapsed * 100
            except (OSError, ValueError):
                out[name] = math.nan
        return out


@dataclass
class _Rig:
    """The two Asterisks and the clients the bench holds on them."""

    center: SandboxInfo
    generator: SandboxInfo
    observer: Observer
    generator_ari: AriClient
    workdir: Path
    followed: set[str] = field(default_factory=set)  # holding bridges the observer follows


Progress = Callable[[str], None]


async def _latency_report(app: tuple[int, Path], timeout: float = 10.0) -> Latency:
    """Ask callflow (pid, log) for its latency figures since its last report (``kill
    -USR1``, which also logs a memory report) and read them off its log."""
    pid, log = app
    offset = _size(log)
    os.kill(pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in _lines_since(log, offset):
            report = parse_report(line)
            if report is not None:
                return report
        await asyncio.sleep(0.1)
    raise LoadBenchError(f"callflow logged no latency report within {timeout:g} s of SIGUSR1")


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def _system_log_offsets(rig: _Rig, app_log: Path | None) -> tuple[int, int]:
    return _size(rig.center.log_file), 0 if app_log is None else _size(app_log)


def _lines_since(path: Path | None, offset: int) -> list[str]:
    if path is None or not path.exists():
        return []
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace").splitlines()


def _rig_drops(rig: _Rig) -> int:
    ports = {rig.center.sip_port, rig.generator.sip_port}
    ranges = [(i.rtp_start, i.rtp_end) for i in (rig.center, rig.generator)]
    return socket_drops(
        _read_proc("/proc/net/udp"),
        lambda port: port in ports or any(low <= port <= high for low, high in ranges),
    )


async def _trunk_channels(ari: AriClient, prefix: str) -> list[dict[str, Any]]:
    data = await ari.request("GET", "/channels")
    return [c for c in data if isinstance(c, dict) and str(c.get("name", "")).startswith(prefix)]


async def _count_up(ari: AriClient, prefix: str) -> int:
    return sum(1 for c in await _trunk_channels(ari, prefix) if c.get("state") == "Up")


async def _held_by_system(rig: _Rig, system: str) -> int:
    """Callers the system holds: in a holding bridge (ARI apps) or in Queue (app_queue)."""
    if system == "app_queue":
        channels = await _trunk_channels(rig.observer.ari, "PJSIP/pstn-")
        return sum(
            1
            for c in channels
            if c.get("state") == "Up" and (c.get("dialplan") or {}).get("app_name") == "Queue"
        )
    bridges = await rig.observer.ari.request("GET", "/bridges")
    return sum(
        len(b.get("channels", []))
        for b in bridges
        if isinstance(b, dict) and b.get("bridge_type") == "holding"
    )


async def _wait_quiet(rig: _Rig, timeout: float) -> None:
    """Until neither Asterisk has a trunk channel left."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = len(await _trunk_channels(rig.generator_ari, "")) + len(
            await _trunk_channels(rig.observer.ari, "PJSIP/pstn-")
        )
        if left == 0:
            return
        await asyncio.sleep(1)
    raise LoadBenchError(f"channels still up {timeout:g} s after hanging up")


async def run_step(
    rig: _Rig,
    system: str,
    calls: int,
    *,
    app_pid: int | None,
    app_log: Path | None,
    hold: float,
    rate: float,
    say: Progress,
) -> StepRow:
    """Ramp ``calls`` calls into ``system``, hold them, hang up, and read the figures."""
    row = StepRow(system, calls)
    rx(rig.generator, "database deltree load")
    reporting = None
    if system == "callflow" and app_pid is not None and app_log is not None:
        reporting = (app_pid, app_log)
        try:
            await _latency_report(reporting)  # what came before this step is not its
        except LoadBenchError as exc:
            row.notes.append(f"{exc} (before the ramp: cmd and rtt include earlier requests)")
    center_offset, app_offset = _system_log_offsets(rig, app_log)
    drops_before = udp_drops(_read_proc("/proc/net/snmp"))
    rig_drops_before = _rig_drops(rig)
    first_event = len(rig.observer.events)
    number = SYSTEMS[system]
    following = asyncio.create_task(_follow_holding_bridges(rig))
    runq = None
    if reporting is not None and app_pid is not None:
        with contextlib.suppress(OSError, ValueError):
            runq = _app_run_queue(app_pid)
    started = time.monotonic()
    # Each call ends itself at this second (load.conf): the ramp, time for the last calls
    # to be answered, the hold, and 2 s to read the figures before the end.
    until = math.ceil(time.time() + calls / rate + SETTLE_S + hold + 2)
    callers = [f"load-{system}-{calls}-{i}" for i in range(calls)]
    in_flight = asyncio.Semaphore(MAX_ORIGINATING)

    async def originate(caller: str) -> str | None:
        """None if Asterisk took it, else why not."""
        async with in_flight:
            try:
                await rig.generator_ari.channels.originate(
                    f"PJSIP/{number}@{TRUNK_USER}",
                    context="load-media",
                    extension="s",
                    priority=1,
                    channel_id=caller,
                    variables={"LOAD_UNTIL": str(until)},
                )
            except ari_errors.AsteriskUnreachable as exc:
                # No answer in time: on a loaded machine Asterisk often places the call
                # all the same (the generator's count of calls up says).
                return f"timed out: {exc}"
            except ari_errors.AriError as exc:
                return str(exc)
            return None

    # On time even when each request is slow (a loaded machine): several in flight.
    placing: list[asyncio.Task[str | None]] = []
    for i, caller in enumerate(callers):
        delay = started + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        placing.append(asyncio.create_task(originate(caller)))
    unanswered = [why for why in await asyncio.gather(*placing) if why is not None]
    refused = [why for why in unanswered if not why.startswith("timed out")]
    failed = len(refused)
    if len(unanswered) > failed:
        row.notes.append(f"{len(unanswered) - failed} originate requests timed out")
    row.notes += [f"originate failed: {why}" for why in refused[:3]]
    deadline = time.monotonic() + SETTLE_S
    up = 0
    while time.monotonic() < deadline:
        up = await _count_up(rig.generator_ari, f"PJSIP/{TRUNK_USER}-")
        if up >= calls - failed:
            break
        await asyncio.sleep(1)
    if runq is not None and app_pid is not None:  # the ramp: when the callers' events came
        with contextlib.suppress(OSError, ValueError):
            waited = _app_run_queue(app_pid) - runq
            row.app_runq = waited * 1000 / (time.monotonic() - started)
    following.cancel()
    with contextlib.suppress(asyncio.CancelledError, ari_errors.AriError):
        await following
    held = until - 2 - time.time()
    row.hold_s = held
    say(f"{system} {calls}: {up} up after {time.monotonic() - started:.0f} s; holding {held:.0f} s")
    pids = {"asterisk": rig.center.pid, "generator": rig.generator.pid}
    if app_pid is not None:
        pids["app"] = app_pid
    cpu = _Cpu(pids)
    switched_before = _switches(rig.center.pid)[1]
    await asyncio.sleep(max(0.0, held))
    percent = cpu.percent()
    with contextlib.suppress(OSError, ValueError):
        row.asterisk_threads, switched = _switches(rig.center.pid)
        if held > 0:
            row.asterisk_switches = max(0, switched - switched_before) / held / calls
    if reporting is not None:
        try:
            latency = await _latency_report(reporting)
        except LoadBenchError as exc:
            row.notes.append(str(exc))
        else:
            row.command_p50, row.command_p99 = latency.command.p50, latency.command.p99
            row.delivered_p50, row.delivered_p99 = latency.delivered.p50, latency.delivered.p99
            row.in_task_p50, row.in_task_p99 = latency.in_task.p50, latency.in_task.p99
            row.round_trip_p50, row.round_trip_p99 = latency.round_trip.p50, latency.round_trip.p99
    row.cpu_asterisk = percent["asterisk"]
    row.cpu_generator = percent["generator"]
    row.cpu_app = percent.get("app")
    if app_pid is not None and system == "callflow":
        with contextlib.suppress(OSError, ValueError):
            row.rss_mib = rss_mib(_read_proc(f"/proc/{app_pid}/status"))
    # While the calls' RTP sockets are still open (each call has its own).
    row.rig_drops = _rig_drops(rig) - rig_drops_before
    row.up_generator = await _count_up(rig.generator_ari, f"PJSIP/{TRUNK_USER}-")
    row.up_system = await _held_by_system(rig, system)
    try:
        await _wait_quiet(rig, 60)
    except LoadBenchError as exc:
        row.notes.append(str(exc))
        rx(rig.generator, "channel request hangup all")
        await _wait_quiet(rig, 60)
    records = []
    stored = parse_database_show(rx(rig.generator, "database show load"), "load")
    for value in stored.values():
        try:
            records.append(parse_qos_record(value))
        except ValueError as exc:  # a call Asterisk gave no RTP figures for: not counted
            row.notes.append(str(exc))
    row.rtp_loss_in, row.rtp_loss_out, row.rx_rate = rtp_figures(records)
    row.udp_drops = udp_drops(_read_proc("/proc/net/snmp")) - drops_before
    events = rig.observer.events[first_event:]
    first, bridged = join_latencies(events)
    measured = (("join", first), ("bridge", bridged), ("prompt", prompt_latencies(events)))
    for name, values in measured:
        if values:
            setattr(row, f"{name}_p50", percentile(values, 50))
            setattr(row, f"{name}_p99", percentile(values, 99))
    heard = announcements_per_caller(_lines_since(rig.center.log_file, center_offset), "PJSIP/")
    row.announced_min = min((heard.get(n, 0) for n in _caller_names(events)), default=0)
    app_errors = [line for line in _lines_since(app_log, app_offset) if " ERROR " in line]
    row.dropped = sum(1 for r in records if r.dropped)
    # A call that left no record at all never reached its end at the generator.
    row.errors = failed + len(app_errors) + row.dropped + max(0, calls - failed - len(stored))
    row.notes += [line[:200] for line in app_errors[:3]]
    return row


async def _follow_holding_bridges(rig: _Rig) -> None:
    """Subscribe the observer to each holding bridge as it appears (a bridge can only be
    subscribed to once it exists), so that callers entering it are seen."""
    while True:
        for bridge in await rig.observer.ari.request("GET", "/bridges"):
            if not isinstance(bridge, dict) or bridge.get("bridge_type") != "holding":
                continue
            bridge_id = str(bridge.get("id"))
            if bridge_id in rig.followed:
                continue
            rig.followed.add(bridge_id)
            with contextlib.suppress(ari_errors.NotFound):
                await rig.observer.ari.request(
                    "POST",
                    f"/applications/{OBSERVER_APP}/subscription",
                    params={"eventSource": f"bridge:{bridge_id}"},
                )
        await asyncio.sleep(0.2)


def _caller_names(events: Iterable[Event]) -> set[str]:
    """The center's trunk channels seen in these events (every caller of the step)."""
    names = set()
    for event in events:
        channel = event.raw.get("channel")
        if isinstance(channel, dict):
            name = channel.get("name")
            if isinstance(name, str) and name.startswith("PJSIP/pstn-"):
                names.add(name)
    return names


def _settings(workdir: Path, info: SandboxInfo) -> Path:
    """callflow's settings for the bench: config/bench-load's flow and queue."""
    settings = workdir / "callflow.yaml"
    settings.write_text(
        "ari:\n"
        f"  url: {info.ari_url}\n"
        f"  username: {info.ari_user}\n"
        f"  app: {info.app}\n"
        "  password_env: CALLFLOW_ARI_PASSWORD\n"
        f"flows: [{CONFIG_DIR / 'flow.yaml'}]\n"
        f"queues: {CONFIG_DIR / 'queues.yaml'}\n"
        f"sounds_dir: {info.sounds_dir}\n"
        "store: callflow.sqlite3\n"
        "log: {format: text, level: warning}\n"
    )
    return settings


class _Minimal(_Callflow):
    """The minimal app (callflow/bench/load_minimal.py) in its own process; stopped as
    callflow is."""

    def __init__(self, info: SandboxInfo, workdir: Path) -> None:
        super().__init__(workdir / "minimal.yaml", info)
        self.log = workdir / "minimal.log"

    async def start(self, observer: Observer, timeout: float = 20.0) -> None:
        """Start it and wait until its app is registered with Asterisk."""
        env = {**os.environ, "CALLFLOW_ARI_PASSWORD": self.info.ari_password}
        with self.log.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "callflow.bench.load_minimal",
                self.info.ari_url,
                self.info.ari_user,
                MINIMAL_APP,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.returncode is not None:
                raise LoadBenchError(f"the minimal app exited:\n{self.tail()}")
            with contextlib.suppress(ari_errors.NotFound):
                await observer.ari.applications.get(MINIMAL_APP)
                return
            if time.monotonic() > deadline:
                raise LoadBenchError(f"the minimal app did not connect within {timeout:g} s")
            await asyncio.sleep(0.1)


async def measure_load(
    center: SandboxInfo,
    generator: SandboxInfo,
    *,
    systems: Sequence[str],
    steps: Sequence[int],
    hold: float,
    rate: float,
    workdir: Path,
    progress: Progress | None = None,
) -> list[StepRow]:
    """Every system at every step, on these two running Asterisks joined by the trunk."""
    say = progress or (lambda _: None)
    rows: list[StepRow] = []
    generator_ari = AriClient(
        AriConfig(
            base_url=generator.ari_url,
            username=generator.ari_user,
            password=generator.ari_password,
            apps=(generator.app,),
        )
    )
    try:
        async with Observer(center, OBSERVER_APP, subscribe_all=False) as observer:
            await observer.ari.request(
                "POST",
                f"/applications/{OBSERVER_APP}/subscription",
                params={"eventSource": "endpoint:PJSIP/pstn"},
            )
            rig = _Rig(center, generator, observer, generator_ari, workdir)
            for system in systems:
                rows += await _run_system(rig, system, steps, hold=hold, rate=rate, say=say)
    finally:
        await generator_ari.close()
    return rows


async def _run_system(
    rig: _Rig, system: str, steps: Sequence[int], *, hold: float, rate: float, say: Progress
) -> list[StepRow]:
    rows: list[StepRow] = []
    app: _Callflow | _Minimal | None = None
    log: Path | None = None
    if system == "callflow":
        app = _Callflow(_settings(rig.workdir, rig.center), rig.center)
        log = app.log
    elif system == "minimal":
        app = _Minimal(rig.center, rig.workdir)
        log = app.log
    try:
        if app is not None:
            await app.start(rig.observer)
        pid = app.proc.pid if app is not None and app.proc is not None else None
        for calls in steps:
            row = await run_step(
                rig, system, calls, app_pid=pid, app_log=log, hold=hold, rate=rate, say=say
            )
            rows.append(row)
            say(format_table([row])[1])
            for note in row.notes:
                say(f"  {note}")
            if row.up_generator < calls // 2:
                say(f"{system} held fewer than half the calls: its larger steps are skipped")
                break
    finally:
        if app is not None:
            await app.stop()
    return rows


def start_generator(center: SandboxInfo, rtp_ports: int) -> Sandbox:
    """The sandbox PSTN with the generator's dialplan, joined to the center by a trunk
    whose calls arrive in ``bench-load-inbound`` (the bench's numbers, not callflow's)."""
    generator = Sandbox(
        pstn_name(center.name),
        app="pstn",
        phones=[],
        overlay=PSTN_DIR / "etc",
        files={
            "dialplan/pstn.conf": (PSTN_DIR / "dialplan" / "pstn.conf").read_text(),
            "dialplan/pstn-numbers.conf": render_numbers(PstnPlan()),
            "dialplan/load.conf": (PSTN_DIR / "dialplan" / "load.conf").read_text(),
        },
        rtp_ports=rtp_ports,
    )
    info = generator.up()
    secret = os.urandom(18).hex()
    sides = (
        (center, "pstn", CENTER_CONTEXT, info, False),
        (info, TRUNK_USER, "pstn-from-callflow", center, True),
    )
    for side, endpoint, context, peer, challenge in sides:
        text = trunk_config(
            endpoint=endpoint,
            context=context,
            peer=(peer.bind, peer.sip_port),
            secret=secret,
            challenge=challenge,
        )
        (Path(side.home) / "etc" / "pjsip_trunk.conf").write_text(text)
        rx(side, "module reload res_pjsip.so")
    return generator


async def _cancelled_by_sigterm(coro: Coroutine[Any, Any, list[StepRow]]) -> list[StepRow]:
    """Run it; SIGTERM cancels it as Ctrl-C does, so that both Asterisks are stopped."""
    task = asyncio.ensure_future(coro)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        return await task
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


def rtp_ports_for(steps: Sequence[int]) -> int:
    """Ports per Asterisk: RTP and RTCP for each call of the largest step, and a margin
    (Asterisk picks ports at random in its range and skips those in use)."""
    return max(200, 2 * max(steps) + 400)


def start_rig(name: str, steps: Sequence[int]) -> tuple[Sandbox, Sandbox]:
    """Start the center's Asterisk (sandbox ``name``) and the generator joined to it, with
    RTP ports for the largest step; on failure nothing is left running."""
    rtp_ports = rtp_ports_for(steps)
    center = Sandbox(name, rtp_ports=rtp_ports)
    center_info = center.up()
    try:
        return center, start_generator(center_info, rtp_ports)
    except BaseException:
        center.down()
        raise


def run_load_bench(
    *,
    systems: Sequence[str],
    steps: Sequence[int],
    hold: float,
    rate: float,
    as_json: bool,
    write: Callable[[str], None] = print,
) -> int:
    """Start both Asterisks, measure every system at every step, print; 0 if it ran."""
    logs.configure("warning")

    def progress(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    for name in (SANDBOX_NAME, pstn_name(SANDBOX_NAME)):
        if Sandbox.load(name) is not None:
            print(
                f"callflow bench load: sandbox {name!r} is running; "
                f"'callflow sandbox down --name {name}' first",
                file=sys.stderr,
            )
            return 1
    rig: tuple[Sandbox, Sandbox] | None = None
    try:
        progress("starting the center's Asterisk and the generator's")
        rig = start_rig(SANDBOX_NAME, steps)
        center_info, generator_info = rig[0].info, rig[1].info
        assert center_info is not None and generator_info is not None
        progress(
            f"center pid {center_info.pid}, generator pid {generator_info.pid}; "
            f"steps {','.join(map(str, steps))}, hold {hold:g} s, {rate:g} calls/s"
        )
        with tempfile.TemporaryDirectory(prefix="callflow-bench-load-") as tmp:
            rows = asyncio.run(
                _cancelled_by_sigterm(
                    measure_load(
                        center_info,
                        generator_info,
                        systems=systems,
                        steps=steps,
                        hold=hold,
                        rate=rate,
                        workdir=Path(tmp),
                        progress=progress,
                    )
                )
            )
    except (SandboxError, RootfsError, LoadBenchError, RuntimeError, OSError) as exc:
        print(f"callflow bench load: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("callflow bench load: interrupted", file=sys.stderr)
        return 130
    finally:
        if rig is not None:
            rig[1].down()
            rig[0].down()
    if as_json:
        for row in rows:
            write(row.to_json())
    else:
        for line in format_table(rows):
            write(line)
        write("")
        for line in verdict_lines(rows):
            write(line)
    return 0 if rows else 1


__all__ = [
    "CallQos",
    "StepRow",
    "announcements_per_caller",
    "cpu_seconds",
    "format_table",
    "join_latencies",
    "measure_load",
    "parse_database_show",
    "parse_qos_record",
    "parse_rtcp_all",
    "prompt_latencies",
    "rss_mib",
    "rtp_figures",
    "run_load_bench",
    "socket_drops",
    "start_generator",
    "udp_drops",
    "verdict_lines",
]
