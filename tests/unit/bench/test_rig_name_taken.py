"""A bench whose sandbox name is taken by another run refuses to start, and stops nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from callflow.bench import callers
from callflow.sandbox import Sandbox, SandboxError, SandboxInfo


async def test_a_taken_name_is_refused_and_the_other_run_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = SandboxInfo(
        name="bench-soak",
        rootfs=str(tmp_path),
        pid=4242,
        bind="127.0.0.1",
        http_port=8088,
        sip_port=5060,
        rtp_start=20000,
        rtp_end=20199,
        ari_user="callflow",
        ari_password="pw",
        app="callflow",
        home=str(tmp_path),
    )
    stopped: list[str] = []
    monkeypatch.setattr(Sandbox, "load", classmethod(lambda cls, name="default": other))
    monkeypatch.setattr(Sandbox, "down", lambda self: stopped.append(self.name))
    with pytest.raises(SandboxError, match="already running \\(pid 4242\\)"):
        async with callers.rig("bench-soak", tmp_path, leads=[], progress=lambda _: None):
            pytest.fail("the rig started")
    assert stopped == []
