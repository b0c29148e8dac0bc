"""``callflow check`` reads the campaigns: those the settings name and campaign files given
directly, with the parser ``callflow run`` uses, their agents and queues looked up in the
queues file, and their do-not-call file read."""

from __future__ import annotations

from pathlib import Path

import pytest

from callflow.cli import main

QUEUES = "agents:\n  alice: {endpoint: PJSIP/alice, queues: [sales]}\nqueues:\n  sales: {}\n"
FLOW = "entry:\n  '100': bye\nnodes:\n  bye: {type: hangup}\n"
CAMPAIGN = "name: renewals\ndial_mode: progressive\nqueues: [sales]\nagents: [alice]\n"


def setup(folder: Path, campaign: str) -> Path:
    (folder / "queues.yaml").write_text(QUEUES)
    (folder / "main.yaml").write_text(FLOW)
    (folder / "renewals.yaml").write_text(campaign)
    settings = folder / "callflow.yaml"
    settings.write_text(
        "ari: {url: 'http://127.0.0.1:8088', username: u, password: p}\n"
        "flows: [main.yaml]\nqueues: queues.yaml\ncampaigns: [renewals.yaml]\n"
    )
    return settings


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str]]:
    code = main(["check", *args])
    return code, capsys.readouterr().out.splitlines()


def test_a_good_setup_checks_its_campaign_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Settings, flow, queues and the campaign: four files, nothing wrong."""
    code, out = check(capsys, str(setup(tmp_path, CAMPAIGN)))
    assert (code, out) == (0, ["4 files checked: 0 errors, 0 warnings"])


def test_a_broken_campaign_is_refused_at_its_line_and_column(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same message callflow run gives: the campaign file, line and column, and the
    nearest valid word."""
    settings = setup(tmp_path, CAMPAIGN.replace("progressive", "progresive"))
    code, out = check(capsys, str(settings))
    assert code == 1
    assert out[0].startswith(f"{tmp_path / 'renewals.yaml'}:2:12: error: 'dial_mode' must be")
    assert out[0].endswith("did you mean 'progressive'?")


def test_agents_and_queues_the_queues_file_lacks_are_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A misspelt queue would leave the campaign without agents, an unknown agent stops
    callflow run: both are found by check, at the name."""
    settings = setup(tmp_path, CAMPAIGN.replace("[sales]", "[sale]").replace("alice", "alicia"))
    code, out = check(capsys, str(settings))
    where = tmp_path / "renewals.yaml"
    assert code == 1
    assert out[:2] == [
        f"{where}:3:10: error: 'queues': no queue 'sale' in {tmp_path / 'queues.yaml'};"
        " did you mean 'sales'?",
        f"{where}:4:10: error: 'agents': no agent 'alicia' in {tmp_path / 'queues.yaml'};"
        " did you mean 'alice'?",
    ]


def test_a_do_not_call_file_that_cannot_be_read_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """callflow run would dial nobody without its do-not-call list: check says so first."""
    settings = setup(tmp_path, CAMPAIGN + "do_not_call: dnc.txt\n")
    code, out = check(capsys, str(settings))
    assert code == 1
    assert out[0].startswith(f"{tmp_path / 'renewals.yaml'}: do_not_call: cannot read ")
    (tmp_path / "dnc.txt").write_text("+15550100107\n")
    assert check(capsys, str(settings))[0] == 0


def test_a_campaign_file_given_alone_is_read_as_a_campaign(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not as a flow: its own keys are fine, its mistakes are its own; with --queues its
    names are looked up."""
    setup(tmp_path, CAMPAIGN)
    campaign = str(tmp_path / "renewals.yaml")
    assert check(capsys, campaign) == (0, ["1 file checked: 0 errors, 0 warnings"])
    (tmp_path / "renewals.yaml").write_text(CAMPAIGN + "max_atempts: 3\n")
    code, out = check(capsys, campaign)
    assert code == 1 and out[0].startswith(f"{campaign}:5:1: error: unknown key 'max_atempts'")
    (tmp_path / "renewals.yaml").write_text(CAMPAIGN.replace("alice", "bob"))
    code, out = check(capsys, campaign, "--queues", str(tmp_path / "queues.yaml"))
    assert code == 1 and "no agent 'bob'" in out[0], out


def test_check_reads_the_preview_block_as_callflow_run_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A good preview block passes; a misspelt on_timeout word is refused at its place."""
    preview = CAMPAIGN.replace("progressive", "preview")
    settings = setup(tmp_path, preview + "preview: {timeout: 20, on_timeout: dial}\n")
    assert check(capsys, str(settings)) == (0, ["4 files checked: 0 errors, 0 warnings"])
    settings = setup(tmp_path, preview + "preview: {timeout: 20, on_timeout: dail}\n")
    code, out = check(capsys, str(settings))
    assert code == 1
    assert out[0].startswith(f"{tmp_path / 'renewals.yaml'}:5:36: error: "), out
    assert out[0].endswith("did you mean 'dial'?"), out


def test_the_sample_preview_campaign_checks_clean(capsys: pytest.CaptureFixture[str]) -> None:
    config = Path(__file__).parents[3] / "config"
    sample = config / "campaigns" / "renewals-preview.yaml"
    code, out = check(capsys, str(sample), "--queues", str(config / "queues.yaml"))
    assert (code, out) == (0, ["2 files checked: 0 errors, 0 warnings"])
