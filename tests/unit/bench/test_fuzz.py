"""The fuzz and soak benches' pure parts: the random callers, the checks, memory growth."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from pathlib import Path

import pytest

from callflow.bench import callers as cl
from callflow.bench.fuzz import FuzzResult
from callflow.bench.soak import growth, rss_kib
from callflow.flow.loader import load_flow
from callflow.queue.config import load_queues
from callflow.store import SqliteStore

PSTN_SCRIPTED = r"\+1555(010\d{2}(0[3-9]|1\d|20)|012\d{2}00|013\d{2}00|011\d{4})"


def test_the_same_seed_gives_the_same_callers_and_another_seed_others() -> None:
    first = list(cl.scripts(7, 200))
    assert first == list(cl.scripts(7, 200))
    assert first != list(cl.scripts(8, 200))
    assert [s.index for s in first] == list(range(200))


def test_callers_dial_the_center_as_scripted_pstn_numbers_and_hang_up_in_time() -> None:
    """Each caller dials 100 or 700 with a caller ID a callback can dial (a person, no
    answer, busy or a machine, by its digits); some hang up within a second, none later
    than the longest call; the keys are the phone's, each 0.2-6 s after the last, and
    they fill the call up to its hang-up."""
    import re

    many = list(cl.scripts(3, 2000, longest=40.0))
    assert {s.dialled for s in many} == {"100", "700"}
    assert all(re.fullmatch(PSTN_SCRIPTED, s.caller_id) for s in many)
    quick = [s for s in many if s.hangup_after < 1.0]
    assert 40 <= len(quick) <= 160  # about one in twenty
    assert all(0.0 <= s.hangup_after <= 40.0 for s in many)
    for s in many:
        assert all(0.2 <= d <= 6.0 and k in cl.KEYS for d, k in s.keys)
        assert sum(d for d, _ in s.keys) >= s.hangup_after
    people = [s for s in many if s.caller_id.startswith("+1555010")]
    assert 0.5 < len(people) / len(many) < 0.7


def test_campaign_leads_are_distinct_scripted_numbers() -> None:
    leads = cl.campaign_leads(1, cl.MAX_LEADS)
    assert len(set(leads)) == cl.MAX_LEADS
    assert leads == cl.campaign_leads(1, cl.MAX_LEADS)
    with pytest.raises(ValueError, match="0 to 60 leads"):
        cl.campaign_leads(1, cl.MAX_LEADS + 1)


def test_start_end_problems_name_every_call_without_exactly_one_of_each() -> None:
    rows = [
        ("call.start", "a"),
        ("call.end", "a"),
        ("call.start", "b"),  # never ended
        ("call.start", "c"),
        ("call.end", "c"),
        ("call.end", "c"),  # ended twice
        ("call.end", "d"),  # ended, never started
    ]
    calls, bad = cl.start_end_problems(rows)
    assert calls == 4
    assert bad == ["b: 1 start, 0 end", "c: 1 start, 2 end", "d: 0 start, 1 end"]
    assert cl.start_end_problems([]) == (0, [])


def test_log_problems_count_error_records_and_tracebacks_of_either_format() -> None:
    lines = [
        json.dumps({"level": "warning", "logger": "callflow.x", "message": "slow"}),
        json.dumps({"level": "error", "logger": "callflow.y", "message": "boom"}),
        json.dumps(
            {
                "level": "error",
                "logger": "asyncio",
                "message": "Task exception was never retrieved",
                "exception": "Traceback (most recent call last): ...",
            }
        ),
        "2026-01-01 00:00:00 ERROR   callflow.z: plain text",
        "Traceback (most recent call last):",
        "",
    ]
    errors, tracebacks = cl.log_problems(lines)
    assert errors == [
        "callflow.y: boom",
        "asyncio: Task exception was never retrieved",
        "2026-01-01 00:00:00 ERROR   callflow.z: plain text",
    ]
    assert tracebacks == 2
    assert cl.log_problems([json.dumps({"level": "info", "message": "ok"})]) == ([], 0)


def test_store_rows_count_what_is_not_final(tmp_path: Path) -> None:
    """Read from a real store's file: a lead still ready and an attempt still dialing are
    counted; done leads and ended attempts are not."""
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path)
    rows = [{"number": n, "timezone": "UTC", "fields": {}, "line": 2} for n in ("+15550100105",)]
    store.import_leads("fuzz", rows)
    store.close()
    assert cl._store_rows(path) == {
        "queue entries left": 0,
        "callbacks not final": 0,
        "leads not final": 1,
        "attempts not ended": 0,
    }
    db = sqlite3.connect(path)
    db.execute("UPDATE campaign_leads SET state = 'done'")
    db.commit()
    db.close()
    assert not any(cl._store_rows(path).values())


def test_a_stopped_campaigns_ready_leads_are_at_rest_not_its_dialing_ones(tmp_path: Path) -> None:
    """The drain stops the bench's campaign: a lead still ready then waits for nobody (not
    counted, but reported as never dialed); a lead left dialing is still counted."""
    path = tmp_path / "s.sqlite3"
    store = SqliteStore(path)
    numbers = ("+15550100105", "+15550100106")
    rows = [{"number": n, "timezone": "UTC", "fields": {}, "line": 2} for n in numbers]
    store.import_leads("fuzz", rows)
    store.set_campaign_state("fuzz", "running")
    store.close()
    assert cl._store_rows(path)["leads not final"] == 2
    cl._stop_campaign(path)
    assert cl._store_rows(path)["leads not final"] == 0
    assert cl._figures(path)["leads never dialed (campaign stopped)"] == 2
    db = sqlite3.connect(path)
    db.execute(
        "UPDATE campaign_leads SET state = 'dialing', attempts = 1 WHERE number = ?", numbers[:1]
    )
    db.commit()
    db.close()
    assert cl._store_rows(path)["leads not final"] == 1
    assert cl._figures(path)["leads never dialed (campaign stopped)"] == 1


def test_the_check_table_and_the_verdict() -> None:
    checks = [cl.Check("channels left (ARI)", 0), cl.Check("bridges left (ARI)", 2, detail="x")]
    lines = cl.format_checks(checks)
    assert lines[0].split() == ["check", "found", "allowed", "ok", "detail"]
    assert lines[1].split()[-1] == "yes" and lines[2].split()[-2:] == ["NO", "x"]
    result = FuzzResult(10, 2, 1, checks=checks)
    assert not result.ok
    assert "CHECKS FAILED" in result.lines()
    result.checks = checks[:1]
    assert result.ok and "every check passed" in result.lines()
    assert not FuzzResult(10, 2, 1).ok  # no check run is no pass
    last = json.loads(result.json_lines()[-1])
    assert last == {
        "bench": "fuzz",
        "calls": 10,
        "seed": 1,
        "concurrency": 2,
        "store": "sqlite",
        "seconds": 0,
        "ok": True,
    }


def test_growth_compares_the_last_quarter_with_the_first_and_fits_a_slope() -> None:
    flat = [(t * 30.0, 100_000.0 + (1 if t % 2 else -1) * 500) for t in range(40)]
    g = growth("callflow", flat)
    assert g.samples == 40 and abs(g.growth_pct) < 0.1 and g.ok
    # 10% of 100 MiB more an hour, linear; the slope is against the first quarter's mean
    # (10 samples, 0-810 s: 100 MiB x 1.01125)
    rising = [(t * 90.0, 102_400.0 * (1 + 0.1 * t * 90 / 3600)) for t in range(41)]
    g = growth("asterisk", rising)
    assert g.first_mib == pytest.approx(100 * 1.01125)
    assert g.slope_pct_per_hour == pytest.approx(10.0 / 1.01125, rel=1e-6)
    assert g.growth_pct > 5 and not g.ok
    assert g.peak_mib == pytest.approx(110.0)
    few = growth("callflow", [(0.0, 1024.0)])
    assert few.samples == 1 and math.isnan(few.growth_pct) and not few.ok


def test_rss_of_this_process_and_of_none() -> None:
    import os

    assert (rss_kib(os.getpid()) or 0) > 1000
    assert rss_kib(None) is None


def test_the_bench_config_loads_without_a_warning() -> None:
    """The fuzz flow reaches every node (the sample's shared ones too) and the queues load:
    a warning would be an ERROR line in callflow's log, a failed check."""
    flow, diagnostics = load_flow(str(cl.FLOW))
    assert flow is not None and diagnostics == []
    center, problems = load_queues(str(cl.QUEUES))
    assert center is not None and problems == []
    assert {"sales", "support", "billing", "outbound"} <= set(center.queues)


def test_random_keys_are_weighted_to_the_menu() -> None:
    rng = random.Random(5)
    keys = [k for _ in range(300) for _, k in cl.make_script(rng, 0).keys]
    assert keys.count("2") > keys.count("7") * 3
