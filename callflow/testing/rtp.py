"""Watch RTP on the loopback interface: when did a phone *receive* a sound, to the microsecond.

A softphone's recording says what it heard, not when: baresip writes packets as they come,
so a burst of late packets looks like audio that arrived on time. :class:`RtpTap` reads
every UDP packet on ``lo`` with a raw packet socket (root, or CAP_NET_RAW) and keeps, with
the kernel's receive timestamp (``CLOCK_REALTIME``, the clock Asterisk stamps its events
with), the RTP packets sent from a range of ports (a sandbox Asterisk's RTP ports).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from array import array
from collections.abc import Iterator
from dataclasses import dataclass

ETH_P_IP = 0x0800
PACKET_HOST = 0  # addressed to this host (on lo, the outgoing copy is PACKET_OUTGOING)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
PCMU, PCMA = 0, 8


class RtpTapError(Exception):
    """The raw packet socket could not be opened (not root, or no CAP_NET_RAW)."""


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet seen on the wire."""

    at: float  # kernel receive time, epoch seconds
    src_port: int
    dst_port: int
    payload_type: int
    payload: bytes


def _ulaw(byte: int) -> int:
    byte = ~byte & 0xFF
    magnitude = (((byte & 0x0F) << 3) + 0x84) << ((byte >> 4) & 0x07)
    return 0x84 - magnitude if byte & 0x80 else magnitude - 0x84


def _alaw(byte: int) -> int:
    byte ^= 0x55
    exponent, mantissa = (byte >> 4) & 0x07, byte & 0x0F
    magnitude = (mantissa << 4) + (8 if exponent == 0 else 0x108)
    magnitude <<= max(0, exponent - 1)
    return magnitude if byte & 0x80 else -magnitude


_ULAW = [_ulaw(b) for b in range(256)]
_ALAW = [_alaw(b) for b in range(256)]


def decode_g711(payload: bytes, payload_type: int) -> array[int] | None:
    """16-bit samples of a PCMU (0) or PCMA (8) payload; None for any other payload type."""
    table = _ULAW if payload_type == PCMU else _ALAW if payload_type == PCMA else None
    if table is None:
        return None
    return array("h", (table[b] for b in payload))


def parse_rtp_over_ip(datagram: bytes) -> tuple[int, int, int, bytes] | None:
    """(source port, destination port, payload type, payload) of an IPv4/UDP/RTP datagram."""
    if len(datagram) < 20 or datagram[0] >> 4 != 4 or datagram[9] != socket.IPPROTO_UDP:
        return None
    ihl = (datagram[0] & 0x0F) * 4
    udp = datagram[ihl:]
    if len(udp) < 8 + 12:
        return None
    src_port, dst_port = struct.unpack_from("!HH", udp)
    rtp = udp[8:]
    if rtp[0] >> 6 != 2:
        return None
    header = 12 + 4 * (rtp[0] & 0x0F)
    if rtp[0] & 0x10 and len(rtp) >= header + 4:  # a header extension
        header += 4 + 4 * struct.unpack_from("!H", rtp, header + 2)[0]
    payload = rtp[header:]
    if rtp[0] & 0x20 and payload:  # padding
        payload = payload[: -payload[-1]]
    return src_port, dst_port, rtp[1] & 0x7F, payload


class RtpTap:
    """Record the RTP packets from or to ports ``low``..``high`` on ``lo`` while open.

    ``async with RtpTap(low, high) as tap: ...``; then ``tap.to_port(port, since)``.
    """

    def __init__(self, low: int, high: int, interface: str = "lo") -> None:
        self.low, self.high, self.interface = low, high, interface
        self.packets: list[RtpPacket] = []
        self._sock: socket.socket | None = None

    async def __aenter__(self) -> RtpTap:
        try:
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(ETH_P_IP))
        except (OSError, AttributeError) as exc:
            raise RtpTapError(f"cannot open a packet socket (needs root): {exc}") from exc
        try:
            sock.bind((self.interface, ETH_P_IP))
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 2**20)
            sock.setblocking(False)
        except OSError as exc:
            sock.close()
            raise RtpTapError(f"cannot listen on {self.interface}: {exc}") from exc
        self._sock = sock
        asyncio.get_running_loop().add_reader(sock.fileno(), self._drain)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening (idempotent)."""
        if self._sock is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
            self._sock.close()
            self._sock = None

    def _drain(self) -> None:
        sock = self._sock
        if sock is None:
            return
        while True:
            try:
                data, ancillary, _, address = sock.recvmsg(2048, 64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if address[2] != PACKET_HOST:
                continue
            parsed = parse_rtp_over_ip(data)
            if parsed is None or not (
                self.low <= parsed[0] <= self.high or self.low <= parsed[1] <= self.high
            ):
                continue
            at = _kernel_time(ancillary)
            if at is None:
                continue
            self.packets.append(RtpPacket(at, *parsed))

    def to_port(self, port: int, since: float = 0.0) -> Iterator[RtpPacket]:
        """The packets sent to ``port`` at or after ``since``, in arrival order."""
        return (p for p in self.packets if p.dst_port == port and p.at >= since)

    def from_port(self, port: int, since: float = 0.0) -> Iterator[RtpPacket]:
        """The packets sent from ``port`` at or after ``since``, in arrival order."""
        return (p for p in self.packets if p.src_port == port and p.at >= since)

    def forget_before(self, when: float) -> None:
        """Drop packets older than ``when`` (keeps memory bounded over long runs)."""
        self.packets = [p for p in self.packets if p.at >= when]


def _kernel_time(ancillary: list[tuple[int, int, bytes]]) -> float | None:
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            return float(seconds + nanoseconds / 1e9)
    return None
