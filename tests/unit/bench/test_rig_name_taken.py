"""A bench whose sandbox name is taken by another run refuses to start, and stops nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from callflow.bench import callers
from callflow.sandbox import Sandbox, SandboxError
from tests.unit.bench.conftest import InfoFactory


async def test_a_taken_name_is_refused_and_the_other_run_left_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox_info: InfoFactory
) -> None:
    other = sandbox_info(name="bench-soak", pid=4242, ari_password="pw")
    stopped: list[str] = []
    monkeypatch.setattr(Sandbox, "load", classmethod(lambda cls, name="default": other))
    monkeypatch.setattr(Sandbox, "down", lambda self: stopped.append(self.name))
    with pytest.raises(SandboxError, match="already running \\(pid 4242\\)"):
        async with callers.rig("bench-soak", tmp_path, leads=[], progress=lambda _: None):
            pytest.fail("the rig started")
    assert stopped == []
