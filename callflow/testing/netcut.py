"""A TCP relay on loopback whose link can be cut: a network drop between callflow and ARI.

Tests point callflow at the relay instead of at Asterisk. :meth:`NetCut.cut` resets every
connection through it and refuses new ones for a while, as a pulled cable or a firewall
rule would, while Asterisk and its calls carry on; then the link comes back. It needs no
privileges and touches no firewall, and it only ever connects to the loopback target it
was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

__all__ = ["NetCut"]

_CHUNK = 65536


class NetCut:
    """Relay ``127.0.0.1:<port>`` to ``target``; cut the link on demand."""

    def __init__(self, target_host: str, target_port: int) -> None:
        if target_host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("NetCut relays to loopback only")
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._cut_until = 0.0

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``, to use as the ARI URL."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Start listening on a free loopback port."""
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop relaying and close every connection."""
        if self._server is not None:
            self._server.close()
        self._reset_all()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    def cut(self, seconds: float) -> None:
        """Reset every connection now and refuse new ones for ``seconds``."""
        self._cut_until = asyncio.get_running_loop().time() + seconds
        self._reset_all()

    @property
    def is_cut(self) -> bool:
        """True while the link is down."""
        return asyncio.get_running_loop().time() < self._cut_until

    def _reset_all(self) -> None:
        for writer in list(self._links):
            _reset(writer)
        self._links.clear()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.is_cut:
            _reset(writer)
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            _reset(writer)
            return
        self._links |= {writer, up_writer}
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pump(source, sink))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(_CHUNK):
                if sink not in self._links:
                    return
                sink.write(data)
                await sink.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if sink in self._links:
                self._links.discard(sink)
                with contextlib.suppress(OSError):
                    sink.close()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), as a dropped link looks to both ends."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        writer.close()
