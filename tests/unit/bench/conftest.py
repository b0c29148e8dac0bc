"""Fixtures for the bench unit tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from callflow.sandbox import SandboxInfo

InfoFactory = Callable[..., SandboxInfo]


@pytest.fixture
def sandbox_info(tmp_path: Path) -> InfoFactory:
    """A running sandbox's description, with no sandbox behind it: ``sandbox_info(**changes)``
    (loopback, ARI on 8088, SIP on 5060, RTP 20000-20199, password ``secret-pw``)."""

    def make(**changes: Any) -> SandboxInfo:
        info = SandboxInfo(
            name="x",
            rootfs=str(tmp_path / "rootfs"),
            pid=1,
            bind="127.0.0.1",
            http_port=8088,
            sip_port=5060,
            rtp_start=20000,
            rtp_end=20199,
            ari_user="callflow",
            ari_password="secret-pw",
            app="callflow",
            home=str(tmp_path / "home"),
        )
        return replace(info, **changes)

    return make
