"""`callflow staffing`: the traffic given or measured from a store written by hand, the
agents needed by Erlang A beside Erlang C, as a table or JSON, and one-line refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callflow.cli import main
from callflow.queue.staffing import Traffic, agents_needed, erlang_a

NOW = "2026-12-01T10:00:00+00:00"
HOUR = ["--from", "2026-12-01T09:00:00+00:00", "--to", "2026-12-01T10:00:00+00:00"]


def staffing(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    code = main(["staffing", *args])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def test_given_traffic_gives_erlang_a_beside_erlang_c(capsys: pytest.CaptureFixture[str]) -> None:
    """200 calls an hour of 180 s, callers who wait 2 minutes on average: 12 agents reach
    80 % in 20 s once the callers who hang up are counted, where Erlang C asks for 14; the
    table runs from two below to two past the larger and marks the answer."""
    out = staffing(capsys, "--calls-per-hour", "200", "--aht", "180", "--patience", "120")
    assert "agents needed: 12 (Erlang A); Erlang C would say 14" in out
    rows = {
        int(line.split()[0]): line.split()
        for line in out.splitlines()
        if line[:8].strip().isdigit()
    }
    assert sorted(rows) == [10, 11, 12, 13, 14, 15, 16]
    assert rows[12][-2:] == ["<-", "needed"] and "<-" not in rows[13]
    # Erlang C's SL and ASA beside: 13 and 14 agents on 10 erlangs, the textbook's figures.
    assert rows[13][-3:] == ["79.6%", "17.1", "s"]
    assert rows[14][-3:-1] == ["88.8%", "7.8"]


def test_a_cap_on_abandons_can_ask_for_more(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--calls-per-hour", "200", "--aht", "180", "--patience", "120", "--json"]
    [plain] = json.loads(staffing(capsys, *argv))
    [capped] = json.loads(staffing(capsys, *argv, "--max-abandon", "0.03"))
    assert (plain["needed"], capped["needed"]) == (12, 14)
    by_agents = {row["agents"]: row for row in capped["rows"]}
    assert by_agents[14]["abandons"] <= 0.03 < by_agents[13]["abandons"]


def test_the_traffic_is_measured_from_the_log(
    store_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Support between 09:00 and 10:00 of the hand-worked day: 11 callers joined (11 an
    hour), AHT 125 s as the report has it, 3 hung up while waiting, and 803 s were waited
    in all (10+30+3+15+40+60+20+10+5+10, and 600 by c12, still waiting at 10:00): a mean
    patience of 803/3 s. Sales (one caller) is planned too."""
    plans = json.loads(staffing(capsys, *HOUR, "--now", NOW, "--store", str(store_file), "--json"))
    assert [p["queue"] for p in plans] == ["sales", "support"]
    support = plans[1]
    seen = support["seen"]
    assert (seen["sl"], seen["abandon_rate"]) == (0.25, 0.5)  # the report's, for the record
    assert {k: v for k, v in seen.items() if k not in ("sl", "abandon_rate")} == {
        "entered": 11,
        "handled": 2,
        "abandoned": 3,
        "waited_seconds": 803.0,
        "hours": 1.0,
    }
    assert support["calls_per_hour"] == 11.0 and support["aht"] == 125.0
    assert support["patience"] == pytest.approx(803 / 3)
    traffic = Traffic(11 / 3600, 125.0, 803 / 3)
    assert support["needed"] == agents_needed(traffic, 20.0, 0.8, short=5.0)
    [row] = [r for r in support["rows"] if r["agents"] == support["needed"]]
    assert row == erlang_a(support["needed"], traffic, 20.0, 5.0).to_dict()
    # Sales saw no hang-up: its callers count as patient (Erlang C).
    assert plans[0]["patience"] is None and plans[0]["needed"] == plans[0]["needed_erlang_c"]


def test_the_table_says_what_was_seen(store_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = staffing(capsys, *HOUR, "--now", NOW, "--store", str(store_file), "--queue", "support")
    assert out.startswith("queue support: goal 80% answered within 20 s")
    assert "seen over 1 h: 11 entered, 2 answered, 3 hung up while waiting" in out
    assert "callers' mean patience 268 s" in out


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--calls-per-hour", "200"], "--calls-per-hour and --aht go together"),
        ([], "give a range (--from, --to) or the traffic"),
        (["--calls-per-hour", "200", "--aht", "0"], "handle time must be more than 0"),
        (["--calls-per-hour", "200", "--aht", "180", "--goal", "80"], "a share between 0 and 1"),
        (["--calls-per-hour", "20", "--aht", "180", *HOUR], "not both"),
        ([*HOUR, "--now", NOW, "--queue", "nowhere"], "queue 'nowhere': no answered call"),
    ],
)
def test_refusals_are_one_line(
    args: list[str], says: str, store_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["staffing", *args, "--store", str(store_file)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("callflow staffing: ") and says in err and err.count("\n") == 1, err
