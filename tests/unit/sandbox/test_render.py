"""The Asterisk config the sandbox and the Docker image render from one recipe."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from callflow.sandbox.instance import default_phones, render_config

DOCKER = Path(__file__).resolve().parents[3] / "docker" / "asterisk"


def _render_module() -> object:
    spec = importlib.util.spec_from_file_location("docker_render", DOCKER / "render.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_system_name_reaches_asterisk_conf(tmp_path: Path) -> None:
    """Each Asterisk's systemname begins its channel ids (callflow's call ids): nodes that
    share a store give theirs each a name of its own."""
    values = {
        "ETC_DIR": "/etc/asterisk",
        "STATE_DIR": "/var/lib/x",
        "BIND_ADDR": "127.0.0.1",
        "SIP_BIND": "127.0.0.1",
        "HTTP_PORT": "8088",
        "SIP_PORT": "5060",
        "RTP_START": "10000",
        "RTP_END": "10199",
        "ARI_USER": "callflow",
        "ARI_PASSWORD": "pw",
        "ARI_APP": "callflow",
        "SYSTEM_NAME": "callflow-west",
    }
    render_config(tmp_path, values, default_phones())
    conf = (tmp_path / "asterisk.conf").read_text()
    assert re.search(r"^systemname = callflow-west$", conf, re.MULTILINE), conf


def test_the_image_entrypoint_fills_in_every_placeholder_the_image_leaves() -> None:
    """docker/asterisk/render.py leaves ``${ASTERISK_...}`` for the container's environment,
    and entrypoint.sh substitutes exactly those names (the two lists are kept by hand)."""
    placeholders: dict[str, str] = _render_module().PLACEHOLDERS  # type: ignore[attr-defined]
    left = {m for v in placeholders.values() for m in re.findall(r"\$\{(\w+)\}", v)}
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    [names] = re.findall(r'^names="([^"]+)"$', entrypoint, re.MULTILINE)
    assert set(names.split()) == left
    assert "ASTERISK_SYSTEM_NAME:=" in entrypoint  # a default, so one node needs nothing
