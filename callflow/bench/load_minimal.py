"""The ceiling of ``callflow bench load``: the least an ARI app can do to hold callers.

Every caller that enters the app (``Stasis(bench-load-minimal)``, extension 300 of
``dialplan/bench-load.conf``) is answered and put in one holding bridge, which plays music to
all of them at once (bridge music on hold: one music stream however many callers). No queue,
no announcements, no state. Run by the bench as its own process, as ``callflow run`` is::

    CALLFLOW_ARI_PASSWORD=... python -m callflow.bench.load_minimal URL USER [APP]
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys

from callflow.ari import AriClient, AriConfig, EventStream
from callflow.ari import errors as ari_errors
from callflow.ari.events import StasisEnd, StasisStart

APP = "bench-load-minimal"
BRIDGE = "bench-load-minimal-holding"


async def hold_callers(config: AriConfig) -> None:
    """Answer and bridge every caller until cancelled; the bridge goes at the end."""
    ari = AriClient(config)
    stream = EventStream(config)
    tasks: set[asyncio.Task[None]] = set()
    callers: set[str] = set()
    music = False  # the bridge's music is playing
    try:
        with contextlib.suppress(ari_errors.AriError):
            await ari.bridges.destroy(BRIDGE)  # a former run's
        await ari.bridges.create("holding", bridge_id=BRIDGE, name=APP)

        async def take(channel: str) -> None:
            nonlocal music
            with contextlib.suppress(ari_errors.AriError):
                await ari.channels.answer(channel)
                await ari.bridges.add_channel(BRIDGE, channel, role="participant")
                if not music:
                    # Asterisk 22 drops a bridge's music (its Announcer channel) once the
                    # last caller has left: the first caller of a new batch starts it again.
                    music = True
                    await ari.bridges.start_moh(BRIDGE, "default")

        async for item in stream:
            if isinstance(item, StasisStart):
                callers.add(item.channel.id)
                task = asyncio.create_task(take(item.channel.id))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif isinstance(item, StasisEnd):
                callers.discard(item.channel.id)
                music = music and bool(callers)
    finally:
        await stream.close()
        for task in tasks:
            task.cancel()
        with contextlib.suppress(ari_errors.AriError):
            await ari.bridges.destroy(BRIDGE)
        await ari.close()


def main(argv: list[str]) -> int:
    """``URL USER [APP]``, the password in CALLFLOW_ARI_PASSWORD; SIGTERM stops it."""
    if len(argv) not in (2, 3) or "CALLFLOW_ARI_PASSWORD" not in os.environ:
        print(__doc__, file=sys.stderr)
        return 2
    config = AriConfig(
        base_url=argv[0],
        username=argv[1],
        password=os.environ["CALLFLOW_ARI_PASSWORD"],
        apps=(argv[2] if len(argv) == 3 else APP,),
    )

    async def run() -> None:
        task = asyncio.ensure_future(hold_callers(config))
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
