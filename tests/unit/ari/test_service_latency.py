"""The service feeds its latency meter: a caller's arrival, on Asterisk's timestamp, to the
call's first request, and every request's round trip (fake ARI)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from ari_fake import FakeAri, Session, channel_json, event_json, make_config

from callflow.app.service import Service
from callflow.ari.latency import parse_report
from callflow.call.primitives import Call


async def test_a_callers_arrival_to_its_answer_is_one_event_to_command(fake: FakeAri) -> None:
    """Asterisk stamped the StasisStart 250 ms before it reaches us (a websocket or an
    event loop that far behind): the figure starts at Asterisk's stamp, not at when
    callflow read the event, and ends when the answer was sent; its delivered part ends
    when callflow read the event off the socket."""
    fake.reply("GET", "/asterisk/info", 200, {"status": {"startup_time": "2026-01-01T00:00:00Z"}})
    fake.reply("GET", "/channels", 200, [])
    fake.reply("GET", "/bridges", 200, [])
    fake.reply("GET", "/applications/callflow", 200, {"name": "callflow", "channel_ids": []})
    fake.reply("POST", "/channels/c-1/answer", 204)
    stamped = datetime.now(UTC) - timedelta(milliseconds=250)
    stamp = stamped.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamped.microsecond // 1000:03d}+0000"
    start = event_json("StasisStart", args=[], channel=channel_json("c-1"), timestamp=stamp)
    fake.sessions.append(Session(frames=[start]))
    answered = asyncio.Event()

    async def answer(call: Call) -> None:
        await call.answer()
        answered.set()

    service = Service(make_config(fake.base_url), answer)
    running = asyncio.create_task(service.run())
    async with asyncio.timeout(5):
        await answered.wait()
    parsed = parse_report(service.latency.report())
    assert parsed is not None
    command, delivered, in_task, round_trip = parsed
    assert command.count == 1
    assert 250 <= command.p99 < 250 + 2000  # 2 s for a slow test machine
    # The event was read off the socket at least 250 ms after the stamp, and the call's
    # task started after that (the histogram reads up to 2 % high).
    assert delivered.count == 1 and 250 <= delivered.p99 <= command.p99 * 1.02
    assert in_task.count == 1
    assert command.p99 - in_task.p99 >= 245
    # The resync's reads and the answer, each timed from sent to answered.
    assert round_trip.count >= 5
    await service.stop()
    async with asyncio.timeout(5):
        await running
