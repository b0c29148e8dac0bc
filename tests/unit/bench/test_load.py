"""`callflow bench load`'s pure parts: what Asterisk, /proc and the kernel say, the latencies
read off the observer's events, and the step table (no Asterisk)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import pytest

from callflow.app.settings import load_settings
from callflow.ari import parse_event
from callflow.ari.events import Event
from callflow.bench.cli import add_commands
from callflow.bench.load import (
    CONFIG_DIR,
    CallQos,
    StepRow,
    _settings,
    announcements_per_caller,
    context_switches,
    cpu_seconds,
    format_table,
    join_latencies,
    parse_database_show,
    parse_qos_record,
    parse_rtcp_all,
    prompt_latencies,
    rss_mib,
    rtp_figures,
    rtp_ports_for,
    run_queue_seconds,
    socket_drops,
    udp_drops,
    verdict_lines,
)
from callflow.flow.loader import load_flow
from callflow.queue.config import load_queues
from tests.unit.bench.conftest import InfoFactory

RTCP_ALL = (
    "ssrc=1434101634;themssrc=1868547287;lp=3;rxjitter=0.000125;rxcount=297;"
    "txjitter=0.000000;txcount=323;rlp=1;rtt=0.000000;rxmes=88.087887;txmes=88.087887"
)

# --- Asterisk's figures ----------------------------------------------------------------


def test_rtcp_all_reads_every_number() -> None:
    """CHANNEL(rtcp,all,audio) gives loss, counts and jitter as numbers."""
    qos = parse_rtcp_all(RTCP_ALL)
    assert qos["lp"] == 3
    assert qos["rxcount"] == 297
    assert qos["txcount"] == 323
    assert qos["rlp"] == 1
    assert qos["rxjitter"] == pytest.approx(0.000125)


def test_rtcp_all_skips_what_is_not_a_number() -> None:
    """Empty text and fields without a number are left out rather than failing."""
    assert parse_rtcp_all("") == {}
    assert parse_rtcp_all("lp=x;rxcount=5;junk") == {"rxcount": 5.0}


def test_qos_record_of_a_call_the_bench_ended() -> None:
    """answered|ended|rtcp: the call's packets and losses both ways, and its length."""
    record = parse_qos_record(f"1796533835|1796533841|{RTCP_ALL}")
    assert record == CallQos(
        answered=1796533835, ended=1796533841, received=297, lost_in=3, sent=323, lost_out=1
    )
    assert record.seconds_up == 6
    assert not record.dropped


def test_qos_record_of_a_call_the_center_ended() -> None:
    """A call the contact center hung up first is marked dropped, with no packets."""
    record = parse_qos_record("1796533835|1796533850|center-hung-up")
    assert record.dropped
    assert record.received == record.sent == 0
    never_answered = parse_qos_record("|1796533850|center-hung-up")
    assert never_answered.answered is None
    assert never_answered.seconds_up == 0


@pytest.mark.parametrize("value", ["", "1796533835", "1|2|", "1|2|ssrc"])
def test_qos_record_that_is_not_one_is_refused(value: str) -> None:
    """A value without the three parts, or without RTP figures, is a clear error."""
    with pytest.raises(ValueError):
        parse_qos_record(value)


def test_database_show_lists_the_family_keys() -> None:
    """`database show load` lines become key -> value; other families and the count
    line are ignored."""
    text = (
        f"/load/callflow-sandbox-1796533835.2               : 1|2|{RTCP_ALL}\n"
        "/load/callflow-sandbox-1796533835.5               : 1|3|center-hung-up\n"
        "/other/key                                        : x\n"
        "2 results found.\n"
    )
    assert parse_database_show(text, "load") == {
        "callflow-sandbox-1796533835.2": f"1|2|{RTCP_ALL}",
        "callflow-sandbox-1796533835.5": "1|3|center-hung-up",
    }


def test_rtp_figures_over_answered_calls() -> None:
    """Loss in is lost over expected; loss out is the center's reported loss over sent;
    the receive rate is packets per answered second against 50."""
    records = [
        CallQos(answered=0, ended=10, received=495, lost_in=5, sent=500, lost_out=0),
        CallQos(answered=0, ended=10, received=500, lost_in=0, sent=500, lost_out=10),
        CallQos(answered=None, ended=10, received=0, lost_in=0, sent=0, lost_out=0),
    ]
    loss_in, loss_out, rate = rtp_figures(records)
    assert loss_in == pytest.approx(5 / 1000)
    assert loss_out == pytest.approx(10 / 1000)
    assert rate == pytest.approx(995 / 1000)
    assert all(math.isnan(v) for v in rtp_figures([]))


# --- /proc -----------------------------------------------------------------------------


def test_cpu_seconds_with_a_command_name_holding_spaces_and_parens() -> None:
    """utime + stime are found after the last ')', whatever the command name holds."""
    fields = ["S"] + ["0"] * 10 + ["250", "150"] + ["0"] * 30
    stat = "4242 (asterisk (x) y) " + " ".join(fields)
    assert cpu_seconds(stat, 100.0) == pytest.approx(4.0)


def test_run_queue_wait_is_schedstats_second_field() -> None:
    """/proc/<pid>/schedstat: time on a CPU, time waiting on a run queue (ns), slices."""
    assert run_queue_seconds("81234567 2500000000 1234\n") == pytest.approx(2.5)
    with open("/proc/self/schedstat") as own:  # the format holds on this kernel
        assert run_queue_seconds(own.read()) >= 0.0


def test_context_switches_add_the_voluntary_and_the_involuntary() -> None:
    """A thread's status: voluntary (it slept: a socket, a timer, a lock) plus
    nonvoluntary (pre-empted) switches; the format holds on this kernel."""
    status = (
        "Name:\tasterisk\nThreads:\t650\n"
        "voluntary_ctxt_switches:\t1200\nnonvoluntary_ctxt_switches:\t34\n"
    )
    assert context_switches(status) == 1234
    assert context_switches("Name:\tx\n") == 0
    with open("/proc/self/status") as own:
        assert context_switches(own.read()) > 0


def test_rss_in_mib() -> None:
    """VmRSS (kB) in MiB; a status without it is an error."""
    assert rss_mib("Name:\tpython\nVmRSS:\t   56320 kB\n") == pytest.approx(55.0)
    with pytest.raises(ValueError):
        rss_mib("Name:\tpython\n")


def test_udp_drops_add_input_errors_and_buffer_errors() -> None:
    """Udp InErrors + RcvbufErrors of /proc/net/snmp."""
    snmp = (
        "Ip: Forwarding DefaultTTL\nIp: 1 64\n"
        "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n"
        "Udp: 1000 2 7 900 5 0\n"
    )
    assert udp_drops(snmp) == 12
    with pytest.raises(ValueError):
        udp_drops("Ip: 1\n")


# --- latencies off the observer's events -----------------------------------------------


def _at(seconds: float) -> str:
    whole = int(seconds)
    ms = round((seconds - whole) * 1000)
    return f"2026-12-06T05:00:{whole:02d}.{ms:03d}+0000"


def _channel(channel_id: str, state: str = "Ring") -> dict[str, Any]:
    return {"id": channel_id, "name": f"PJSIP/pstn-{channel_id}", "state": state}


def _event(kind: str, at: float, channel_id: str, **extra: Any) -> Event:
    data: dict[str, Any] = {"type": kind, "timestamp": _at(at), "application": "observer"}
    if kind.startswith("Playback"):
        data["playback"] = {
            "id": f"pb-{at}",
            "media_uri": "sound:queue-thereare",
            "target_uri": f"channel:{channel_id}",
            "state": "playing",
        }
    else:
        data["channel"] = _channel(channel_id, extra.pop("state", "Ring"))
    data.update(extra)
    return parse_event(data)


def _entered_holding(at: float, channel_id: str) -> Event:
    bridge = {"id": "hold", "bridge_type": "holding", "technology": "holding_bridge"}
    return _event("ChannelEnteredBridge", at, channel_id, bridge=bridge)


def test_join_is_stasis_to_the_first_effect_and_to_the_holding_bridge() -> None:
    """Per caller: entering Stasis to the answer (the first effect), and to the bridge."""
    events = [
        _event("ChannelDialplan", 1.000, "a", dialplan_app="Goto", dialplan_app_data=""),
        _event("ChannelDialplan", 1.002, "a", dialplan_app="Stasis", dialplan_app_data=""),
        _event("ChannelDialplan", 1.010, "b", dialplan_app="Stasis", dialplan_app_data=""),
        _event("ChannelStateChange", 1.006, "a", state="Up"),
        _event("PlaybackStarted", 1.030, "a"),
        _entered_holding(1.042, "a"),
        _event("ChannelStateChange", 1.050, "b", state="Up"),
    ]
    first, bridged = join_latencies(events)
    assert first == [pytest.approx(4, abs=0.01), pytest.approx(40, abs=0.01)]
    assert bridged == [pytest.approx(40, abs=0.01)]


def test_a_caller_never_in_stasis_has_no_join() -> None:
    """app_queue's callers (Queue in the dialplan) give no join figure."""
    events = [
        _event("ChannelDialplan", 1.0, "a", dialplan_app="Queue", dialplan_app_data=""),
        _event("ChannelStateChange", 1.1, "a", state="Up"),
    ]
    assert join_latencies(events) == ([], [])


def test_prompt_is_a_finished_playback_to_the_next_effect_within_a_second() -> None:
    """A playback's end to the caller's next playback; a gap over 1 s (the next
    announcement on its schedule, not a reaction) does not count."""
    events = [
        _event("PlaybackStarted", 1.0, "a"),
        _event("PlaybackFinished", 2.0, "a"),
        _event("PlaybackStarted", 2.012, "a"),
        _event("PlaybackFinished", 3.0, "a"),
        _event("PlaybackStarted", 9.0, "a"),
    ]
    assert prompt_latencies(events) == [pytest.approx(12, abs=0.01)]


def test_a_hang_up_after_a_prompt_is_no_reaction() -> None:
    """A caller who hangs up 0.7 s after an announcement ended leaves the bridge then:
    Asterisk's doing, not the app's; nor does anything after the hang-up count (the
    playback it cut, the bridge left)."""
    bridge = {"id": "hold", "bridge_type": "holding", "technology": "holding_bridge"}
    events = [
        _event("PlaybackFinished", 2.0, "a"),
        _event("ChannelHangupRequest", 2.7, "a"),
        _event("ChannelLeftBridge", 2.71, "a", bridge=bridge),
        _event("ChannelHangupRequest", 5.0, "b"),
        _event("PlaybackFinished", 5.002, "b"),
        _event("ChannelLeftBridge", 5.004, "b", bridge=bridge),
        _event("PlaybackFinished", 6.0, "c"),
        _event("ChannelLeftBridge", 6.03, "c", bridge=bridge),
    ]
    assert prompt_latencies(events) == [pytest.approx(30, abs=0.01)]


def test_announcements_are_counted_per_caller_from_asterisks_log() -> None:
    """'Playing' lines of Asterisk's log, by channel, for the callers only."""
    lines = [
        "[..] VERBOSE[1][C-1] file.c: <PJSIP/pstn-00000001> Playing 'queue-thereare.gsm' (x)",
        "[..] VERBOSE[1][C-1] file.c: <PJSIP/pstn-00000001> Playing 'digits/1.gsm' (x)",
        "[..] VERBOSE[1][C-2] file.c: <PJSIP/pstn-00000002> Playing 'queue-holdtime.gsm' (x)",
        "[..] VERBOSE[1][C-3] file.c: <Local/x;1> Playing 'beep.gsm' (x)",
        "[..] VERBOSE[1][C-1] res_musiconhold.c: Started music on hold on PJSIP/pstn-00000001",
    ]
    heard = announcements_per_caller(lines, "PJSIP/pstn-")
    assert heard == {"PJSIP/pstn-00000001": 2, "PJSIP/pstn-00000002": 1}


# --- the step table --------------------------------------------------------------------


def _row(system: str, calls: int, **figures: Any) -> StepRow:
    row = StepRow(system, calls, up_generator=calls, up_system=calls)
    row.rtp_loss_in = row.rtp_loss_out = 0.0
    row.rx_rate = 1.0
    for name, value in figures.items():
        setattr(row, name, value)
    return row


def test_a_step_is_clean_with_every_call_up_and_under_a_thousandth_lost() -> None:
    """Clean: every call up at both ends, none dropped, RTP loss < 0.1 % both ways, and
    the callers sent at least 99 % of their audio (a center late on its timers sends
    less, with no gap in the sequence to count as lost)."""
    assert _row("callflow", 100).clean
    assert not _row("callflow", 100, up_generator=99).clean
    assert not _row("callflow", 100, up_system=98).clean
    assert not _row("callflow", 100, dropped=1).clean
    assert not _row("callflow", 100, rtp_loss_in=0.001).clean
    assert not _row("callflow", 100, rtp_loss_out=math.nan).clean
    assert _row("app_queue", 500, rx_rate=0.99).clean
    assert not _row("app_queue", 500, rx_rate=0.857).clean
    assert not _row("app_queue", 500, rx_rate=math.nan).clean


def test_the_table_has_one_aligned_row_per_step() -> None:
    """A header and one row per system and step, every row as wide as the header's
    columns; figures not measured are '-'."""
    rows = [
        _row("callflow", 100, cpu_asterisk=20.0, cpu_app=4.0, cpu_generator=10.0),
        _row("app_queue", 100, cpu_asterisk=25.0, cpu_generator=10.0),
    ]
    rows[0].asterisk_threads, rows[0].asterisk_switches = 650, 151.6
    lines = format_table(rows)
    assert len(lines) == 3
    assert lines[0].split()[0] == "system"
    names, callflow, app_queue = (
        [c.strip() for c in line.split("  ") if c.strip()] for line in lines
    )
    assert len(callflow) == len(app_queue) == len(names)
    assert callflow[names.index("ast thr")] == "650"
    assert callflow[names.index("cs/s/call")] == "152"
    assert app_queue[names.index("ast thr")] == "-"
    assert lines[1].split()[:5] == ["callflow", "100", "-", "100/100", "20.0"]
    assert lines[2].split()[5] == "-"  # app_queue has no app process
    assert "yes" in lines[1].split()


def test_the_json_line_carries_every_figure() -> None:
    """--json: one object per row, undefined figures null, with the clean verdict."""
    data = json.loads(_row("minimal", 300, cpu_asterisk=12.5).to_json())
    assert data["bench"] == "load"
    assert data["system"] == "minimal"
    assert data["cpu_asterisk"] == 12.5
    assert data["join_p99"] is None
    assert data["command_p99"] is None and data["round_trip_p99"] is None
    assert data["clean"] is True


def test_verdicts_compare_the_most_callers_held_clean() -> None:
    """The most callers each system held clean; callflow's latency (its own part, and
    to the effect on Asterisk's clock), CPU share and total CPU against app_queue's at
    that load."""
    rows = [
        _row(
            "callflow",
            100,
            cpu_asterisk=20.0,
            cpu_app=4.0,
            join_p99=30.0,
            bridge_p99=45.0,
            command_p99=3.2,
            delivered_p99=1.8,
            in_task_p99=1.1,
            app_runq=12.4,
            round_trip_p99=38.0,
        ),
        _row("callflow", 200, rtp_loss_in=0.01),
        _row("app_queue", 100, cpu_asterisk=40.0),
    ]
    lines = verdict_lines(rows)
    assert "held clean: callflow 100" in lines
    assert "held clean: app_queue 100" in lines
    assert (
        "callflow at 100: event->command p99 3 ms"
        " (target <= 50; Asterisk's StasisStart to callflow's first request;"
        " delivered to callflow p99 2 ms, in the call's task p99 1 ms;"
        " its loop waited 12 ms/s for a CPU in the ramp)"
    ) in lines
    assert (
        "callflow at 100: Stasis->effect p99 45 ms (join, bridge, prompt: with Asterisk's own"
        " work; ARI round trip p99 38 ms)"
    ) in lines
    assert "callflow at 100: its CPU / Asterisk's 0.20 (<= 0.25)" in lines
    assert "callflow at 100: total CPU / app_queue's 0.60 (<= 0.8)" in lines


def test_rtp_ports_cover_the_largest_step() -> None:
    """Two ports per call of the largest step and a margin, never under the default."""
    assert rtp_ports_for([10]) >= 200
    assert rtp_ports_for([100, 500]) >= 1000


# --- the scenario and the command ------------------------------------------------------


def test_the_bench_settings_load_the_bench_flow_and_queue(
    tmp_path: Any, sandbox_info: InfoFactory
) -> None:
    """The settings the bench writes name config/bench-load's flow and queue, which load:
    one queue, no agent, announcements every 30 s and a periodic prompt."""
    info = sandbox_info(
        name="bench-load",
        rootfs=str(tmp_path),
        rtp_end=21199,
        ari_password="secret",
        home=str(tmp_path),
    )
    settings = load_settings(_settings(tmp_path, info))
    assert settings.ari.app == "callflow"
    assert "secret" not in (tmp_path / "callflow.yaml").read_text()
    [flow] = settings.flows
    assert flow == CONFIG_DIR / "flow.yaml"
    assert settings.queues is not None
    center, diagnostics = load_queues(str(settings.queues))
    assert center is not None, diagnostics
    parsed, diagnostics = load_flow(str(flow), queue_exits=center.exits())
    assert parsed is not None, diagnostics
    assert not center.agents
    queue = center.queues["load"]
    assert queue.announce.frequency == 30
    assert queue.announce.periodic


def test_the_command_parses_steps_and_systems() -> None:
    """--steps and --systems are comma lists; an unknown system is refused."""
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(
        ["bench", "load", "--steps", "10,20", "--systems", "callflow,minimal", "--hold", "35"]
    )
    assert args.steps == (10, 20)
    assert args.systems == ("callflow", "minimal")
    assert args.hold == 35
    defaults = parser.parse_args(["bench", "load"])
    assert defaults.steps == (100, 200, 300, 400, 500)
    assert defaults.systems == ("callflow", "app_queue", "minimal")
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "load", "--systems", "callflow,opensips"])


def test_socket_drops_sum_the_rigs_ports_only() -> None:
    """The drops column of /proc/net/udp, for the sockets on the ports asked for."""
    proc_net_udp = (
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid"
        "  timeout inode ref pointer drops\n"
        " 1: 0100007F:4E20 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 1 2"
        " 0000000000000000 7\n"
        " 2: 0100007F:4E22 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 2 2"
        " 0000000000000000 3\n"
        " 3: 0100007F:1388 00000000:0000 07 00000000:00000000 00:00000000 00000000 0 0 3 2"
        " 0000000000000000 100\n"
    )
    assert socket_drops(proc_net_udp, lambda port: 20000 <= port <= 20002) == 10
    assert socket_drops(proc_net_udp, lambda port: port == 5000) == 100
    assert socket_drops("", lambda port: True) == 0
