"""The settings' campaigns: each file listed is checked as the settings are read."""

from __future__ import annotations

from pathlib import Path

from callflow.app.settings import read_settings


def test_settings_check_the_campaign_files_they_list(tmp_path: Path) -> None:
    """A campaign's own mistakes are reported at its file:line:column from the settings."""
    (tmp_path / "c.yaml").write_text("name: c\ndial_mode: progresive\n")
    (tmp_path / "q.yaml").write_text("agents: {}\nqueues: {}\n")
    settings = tmp_path / "callflow.yaml"
    settings.write_text("flows: []\nqueues: q.yaml\ncampaigns: [c.yaml, gone.yaml]\n")
    found, diagnostics = read_settings(settings)
    assert found is None
    said = [str(d) for d in diagnostics]
    assert any(s.startswith(f"{tmp_path / 'c.yaml'}:2:12: error:") for s in said), said
    assert any("gone.yaml" in s and s.startswith(f"{settings}:3:") for s in said), said
