"""Tasks that signal handlers start are kept until done, and their failures are logged."""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from pathlib import Path

import pytest

from callflow.app.main import App
from callflow.app.settings import AriSettings, Settings


def make_app(tmp_path: Path) -> App:
    flow = tmp_path / "flow.yaml"
    flow.write_text('entry:\n  "100": bye\nnodes:\n  bye:\n    type: hangup\n')
    settings = Settings(
        ari=AriSettings(password="secret"), flows=(flow,), store=tmp_path / "store.sqlite3"
    )
    return App(settings)


async def test_a_stop_signal_task_survives_garbage_collection(tmp_path: Path) -> None:
    """The stop a SIGTERM starts runs to its end even if a garbage collection comes first."""
    app = make_app(tmp_path)
    stopped = asyncio.Event()
    release = asyncio.Event()

    async def stop() -> None:
        await release.wait()
        stopped.set()

    app.stop = stop  # type: ignore[method-assign]
    app._on_stop_signal(signal.SIGTERM)
    await asyncio.sleep(0)
    gc.collect()
    release.set()
    async with asyncio.timeout(2):
        await stopped.wait()
    await asyncio.sleep(0)
    assert not app._background
    app.store.close()


async def test_a_failing_signal_task_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stop that raises is logged with its traceback, not left as an unretrieved exception."""
    app = make_app(tmp_path)

    async def stop() -> None:
        raise RuntimeError("stop broke")

    app.stop = stop  # type: ignore[method-assign]
    with caplog.at_level(logging.ERROR):
        app._on_stop_signal(signal.SIGTERM)
        for _ in range(3):
            await asyncio.sleep(0)
    assert not app._background
    failures = [r for r in caplog.records if r.getMessage() == "stop after a signal failed"]
    assert failures and failures[0].exc_info is not None
    app.store.close()
