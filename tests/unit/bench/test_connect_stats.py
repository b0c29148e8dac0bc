"""`callflow bench connect`'s pure parts: statistics, the output, reading Asterisk's events,
and the audio checks it uses (no Asterisk, no softphone)."""

from __future__ import annotations

import argparse
import json
import math
from array import array
from pathlib import Path
from typing import Any

import pytest

from callflow.app.settings import load_settings
from callflow.ari import parse_event
from callflow.ari.events import Event
from callflow.bench.cli import add_commands
from callflow.bench.connect import (
    METRICS,
    CallTimes,
    connect_moments,
    find_caller_channel,
    format_table,
    goal_lines,
    percentile,
    queues_yaml,
    slowest_line,
    summarize,
    write_setup,
)
from callflow.flow.loader import load_flow
from callflow.queue.config import load_queues
from callflow.store import SqliteStore
from callflow.testing.audio import is_tone, tone_seconds, write_tone
from callflow.testing.rtp import decode_g711, parse_rtp_over_ip
from tests.unit.bench.conftest import InfoFactory

# --- statistics ------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks_like_numpy() -> None:
    """Linear interpolation between ranks: numpy.percentile's default method."""
    values = [40.0, 10.0, 30.0, 20.0]  # unsorted on purpose
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 90) == pytest.approx(37.0)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_summary_of_twenty_calls() -> None:
    """1..20 ms: median 10.5, p90 18.1, p99 19.81, max 20, mean 10.5."""
    summary = summarize("answer_to_bridge_ms", [float(v) for v in range(20, 0, -1)])
    assert summary.calls == 20
    assert summary.p50 == pytest.approx(10.5)
    assert summary.p90 == pytest.approx(18.1)
    assert summary.p99 == pytest.approx(19.81)
    assert (summary.max, summary.mean) == (20.0, 10.5)


def test_an_empty_summary_has_no_figures_and_does_not_meet_the_goal() -> None:
    summary = summarize("answer_to_hear_ms", [])
    assert summary.calls == 0
    assert math.isnan(summary.p50) and math.isnan(summary.max)
    assert not summary.goal_met()
    row = json.loads(summary.to_json(1000.0))
    assert row["p50"] is None and row["goal_met"] is False


def test_json_line_has_the_documented_keys_and_the_goal_only_when_asked() -> None:
    summary = summarize("answer_to_bridge_ms", [12.0, 30.04, 18.0])
    row = json.loads(summary.to_json(1000.0))
    assert list(row) == [
        "bench",
        "metric",
        "calls",
        "p50",
        "p90",
        "p99",
        "max",
        "mean",
        "goal_ms",
        "goal_met",
    ]
    assert row["bench"] == "connect" and row["metric"] == "answer_to_bridge_ms"
    assert (row["calls"], row["p50"], row["max"], row["mean"]) == (3, 18.0, 30.0, 20.0)
    assert row["goal_met"] is True
    assert "goal_ms" not in json.loads(summary.to_json())


def test_goal_is_met_only_if_every_call_is_under_it() -> None:
    assert summarize("answer_to_hear_ms", [100.0, 999.9]).goal_met()
    assert not summarize("answer_to_hear_ms", [100.0, 1000.0]).goal_met()
    lines = goal_lines(
        [
            summarize("answer_to_bridge_ms", [10.0, 20.0]),
            summarize("answer_to_hear_ms", [100.0, 1500.0]),
            summarize("answer_to_unhold_ms", [5000.0]),  # a breakdown: no goal
        ]
    )
    assert lines == [
        "goal: answer_to_bridge_ms < 1000 ms on every call: met (max 20.0 ms over 2 calls)",
        "goal: answer_to_hear_ms < 1000 ms on every call: not met (max 1500.0 ms over 2 calls)",
    ]


def test_table_is_aligned_with_a_dash_for_missing_figures() -> None:
    lines = format_table(
        [summarize("answer_to_bridge_ms", [12.0, 30.0]), summarize("answer_to_hear_ms", [])]
    )
    assert lines[0].split() == ["metric", "calls", "p50", "p90", "p99", "max", "mean"]
    assert lines[1].split() == ["answer_to_bridge_ms", "2", "21.0", "28.2", "29.8", "30.0", "21.0"]
    assert lines[2].split() == ["answer_to_hear_ms", "0", "-", "-", "-", "-", "-"]
    assert len({len(line) for line in lines}) == 1


# --- reading one call from Asterisk's events --------------------------------------------


def _channel(channel_id: str, name: str, state: str = "Up") -> dict[str, Any]:
    return {"id": channel_id, "name": name, "state": state}


def _event(kind: str, at: str, **fields: Any) -> Event:
    return parse_event(
        {"type": kind, "application": "obs", "timestamp": f"2025-01-02T10:00:{at}+0000", **fields}
    )


def _bridge(bridge_id: str, bridge_type: str) -> dict[str, Any]:
    return {"id": bridge_id, "technology": "simple_bridge", "bridge_type": bridge_type}


CALLER = _channel("sb-1.0", "PJSIP/caller1-00000001")
MISSED = _channel("sb-1.0-leg1", "PJSIP/agent2-00000002")
LEG = _channel("sb-1.0-leg2", "PJSIP/agent1-00000003")
HOLDING = _bridge("callflow-queue-bench", "holding")
MIXING = _bridge("sb-1.0-bridge2", "mixing")


def _a_call() -> list[Event]:
    return [
        _event("ChannelCreated", "00.000", channel=_channel("sb-0.9", "PJSIP/caller2-0000")),
        _event("ChannelCreated", "00.100", channel=CALLER),
        _event("ChannelEnteredBridge", "00.300", channel=CALLER, bridge=HOLDING),
        _event("ChannelStateChange", "00.400", channel=_channel(MISSED["id"], "x", "Ringing")),
        _event("ChannelDestroyed", "02.400", channel=MISSED, cause=19),
        _event("ChannelStateChange", "02.500", channel=_channel(LEG["id"], "x", "Ringing")),
        _event("ChannelStateChange", "03.000", channel=LEG),
        _event("ChannelLeftBridge", "03.010", channel=CALLER, bridge=HOLDING),
        _event("BridgeCreated", "03.015", bridge=MIXING),
        _event("ChannelEnteredBridge", "03.020", channel=CALLER, bridge=MIXING),
        _event("ChannelEnteredBridge", "03.021", channel=LEG, bridge=MIXING),
        _event("ChannelHangupRequest", "05.000", channel=CALLER),
    ]


def test_the_moments_of_a_connection_come_from_asterisks_timestamps() -> None:
    """Answer = the bridged leg going Up (not a leg that rang out); bridged = both in the
    mixing bridge; unheld = the caller leaving the holding bridge after the answer."""
    events = _a_call()
    assert find_caller_channel(events, "caller1") == "sb-1.0"
    assert find_caller_channel(events, "caller3") is None
    moments = connect_moments(events, "sb-1.0")
    assert moments is not None
    assert moments.leg == "sb-1.0-leg2"
    assert moments.bridged - moments.answered == pytest.approx(0.021, abs=1e-6)
    assert moments.unheld is not None and moments.created is not None
    assert moments.unheld - moments.answered == pytest.approx(0.010, abs=1e-6)
    assert moments.created - moments.answered == pytest.approx(0.015, abs=1e-6)
    fast = CallTimes("caller2", {"answer_to_bridge_ms": 5.0}, moments=moments)
    slow = CallTimes("caller1", {"answer_to_bridge_ms": 21.0}, moments=moments)
    slow.heard_at = moments.answered + 0.080
    assert slowest_line([fast, slow]) == (
        "slowest call (caller1), ms after the agent's answer: left holding +10, "
        "mixing bridge created +15, both in it +21, heard +80"
    )
    assert slowest_line([]) is None


def test_no_moments_until_both_are_in_the_mixing_bridge() -> None:
    events = _a_call()
    assert connect_moments(events[:10], "sb-1.0") is None  # the leg is not in yet
    assert connect_moments(events, "sb-2.0") is None


# --- the audio checks ------------------------------------------------------------------


def _sine(freq: float, n: int = 160, amplitude: int = 8000) -> array[int]:
    return array("h", (int(amplitude * math.sin(2 * math.pi * freq * i / 8000)) for i in range(n)))


def test_is_tone_tells_the_agents_tone_from_other_sounds() -> None:
    assert is_tone(_sine(1200), 8000, 1200)
    assert not is_tone(_sine(440), 8000, 1200)
    assert not is_tone(_sine(1200, amplitude=100), 8000, 1200)  # too quiet
    mixed = zip(_sine(1200, amplitude=4000), _sine(700), strict=True)
    chord = array("h", (a + b for a, b in mixed))
    assert not is_tone(chord, 8000, 1200)  # mostly something else
    assert not is_tone(array("h"), 8000, 1200)


def test_tone_seconds_counts_only_the_tone(tmp_path: Path) -> None:
    tone = write_tone(tmp_path / "t.wav", seconds=0.5, freq=1200)
    assert tone_seconds(tone, 1200) == pytest.approx(0.5)
    assert tone_seconds(tone, 440) == 0.0


def test_g711_payloads_decode_to_the_standard_values() -> None:
    assert list(decode_g711(bytes([0xFF, 0x7F, 0x00, 0x80]), 0) or []) == [0, 0, -32124, 32124]
    assert list(decode_g711(bytes([0xD5, 0x55, 0xAA, 0x2A]), 8) or []) == [8, -8, 32256, -32256]
    assert decode_g711(b"\x00", 96) is None


def test_rtp_over_ip_is_parsed_and_anything_else_is_not() -> None:
    rtp = bytes([0x80, 0x00, 0, 1, 0, 0, 0, 160, 0, 0, 0, 7]) + b"\xff" * 160
    udp = (4000).to_bytes(2, "big") + (5000).to_bytes(2, "big") + b"\x00" * 4 + rtp
    ip = bytes([0x45, 0, 0, 0, 0, 0, 0, 0, 64, 17]) + b"\x00" * 10 + udp
    assert parse_rtp_over_ip(ip) == (4000, 5000, 0, b"\xff" * 160)
    tcp = ip[:9] + bytes([6]) + ip[10:]
    assert parse_rtp_over_ip(tcp) is None
    assert parse_rtp_over_ip(ip[:30]) is None


# --- the setup and the command line -----------------------------------------------------


def test_the_bench_settings_flow_and_queues_are_valid(
    tmp_path: Path, sandbox_info: InfoFactory
) -> None:
    """The files the bench writes load without errors, and the agents are logged in (in the
    event log, which is how a starting callflow finds them); no password is written."""
    info = sandbox_info()
    path = write_setup(tmp_path / "bench", agents=3, info=info)
    settings = load_settings(path)
    assert settings.ari.url == "http://127.0.0.1:8088" and settings.ari.app == "callflow"
    assert "secret-pw" not in path.read_text()
    [flow] = settings.flows
    parsed, diagnostics = load_flow(str(flow))
    assert parsed is not None, diagnostics
    assert settings.queues is not None
    center, diagnostics = load_queues(str(settings.queues))
    assert center is not None, diagnostics
    assert sorted(center.agents) == ["agent1", "agent2", "agent3"]
    store = SqliteStore(settings.store)
    try:
        states = store.latest("agent.state", "agent")
    finally:
        store.close()
    assert {name: r.data["state"] for name, r in states.items()} == {
        "agent1": "available",
        "agent2": "available",
        "agent3": "available",
    }
    assert "agent4" not in queues_yaml(3)


def test_the_command_line_takes_calls_json_keep_and_parallel() -> None:
    parser = argparse.ArgumentParser(prog="callflow")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["bench", "connect", "--calls", "5", "--json", "--keep"])
    assert (args.calls, args.json, args.keep, args.parallel, args.ring) == (5, True, True, 1, 1.0)
    assert parser.parse_args(["bench", "connect"]).calls == 20
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "connect", "--calls", "0"])
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "connect", "--parallel", "7"])
    assert set(METRICS) >= {"answer_to_bridge_ms", "answer_to_hear_ms"}


async def test_a_callflow_that_never_connects_is_stopped_not_left_running(
    tmp_path: Path, sandbox_info: InfoFactory
) -> None:
    """The rig gives up on a callflow whose app never appears in ARI (here no Asterisk at
    all: it keeps retrying) and stops it; before, it was left running, retrying for ever."""
    import socket

    from callflow.ari import errors as ari_errors
    from callflow.bench.connect import _Callflow

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    info = sandbox_info(http_port=port)

    class Nobody:
        """An observer whose ARI never lists the app."""

        class ari:
            class applications:
                @staticmethod
                async def get(name: str) -> None:
                    raise ari_errors.NotFound(404, f"application {name}")

    callflow = _Callflow(write_setup(tmp_path / "bench", agents=1, info=info), info)
    with pytest.raises(RuntimeError, match="did not connect within 3 s"):
        await callflow.start(Nobody(), timeout=3.0)  # type: ignore[arg-type]
    assert callflow.proc is not None and callflow.proc.returncode is not None
