"""A message left on an answering machine after its beep, on real calls: a campaign dials the
sandbox PSTN's scripted machine (about 7 s of greeting, Asterisk's 0.43 s beep at 700 Hz,
then it records what it hears, sending no audio); AMD says MACHINE within the greeting, the
dialplan waits for a second of quiet (WaitForSilence, 10 s at most) and only then callflow
plays the message: a 1 kHz tone of known length, found whole in the machine's recording."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from callflow.app.main import App
from callflow.call.outbound import GREETING_LIMIT
from callflow.sandbox import SandboxInfo
from callflow.store import EventRecord
from callflow.testing.audio import tone_seconds, wav_closed, write_tone
from tests.integration.conftest import AppFactory, PhoneFactory, wait_for_events
from tests.integration.test_callbacks import MACHINE_QUEUE
from tests.integration.test_dialer import DialerAppFactory, dialer_apps  # noqa: F401 (fixture)
from tests.integration.test_recovery import until

pytestmark = pytest.mark.asterisk

HERE = Path(__file__).parent
QUEUES = HERE / "dialer_queues.yaml"
CALLBACK_QUEUES = HERE / "callback_queues.yaml"
CALLBACK_FLOW = HERE / "flows" / "callbacks.yaml"
MACHINE = "+15550110120"  # the PSTN's machine: rings 1 s, records 20 s after its beep
ENDLESS_MACHINE = "+15550160140"  # a machine never quiet: rings 1 s, greets for 40 s
MESSAGE_HZ = 1000.0
MESSAGE_SECONDS = 3.0
CAMPAIGN = """\
name: machines
dial_mode: progressive
calling_hours: {{start: "00:00", end: "23:59"}}
max_attempts: 1
queues: [outbound]
machine_message: [{{sound: {sound}}}]
leads:
  number: phone
  default_timezone: UTC
"""


async def campaign_calling(
    number: str,
    dialer_apps: DialerAppFactory,  # noqa: F811 (the fixture imported above)
    phones: PhoneFactory,
    message_sound: Path,
    tmp_path: Path,
) -> tuple[App, str]:
    """callflow running a campaign whose one lead is ``number`` and whose machine message
    is ``message_sound``, agent1 logged in and free: it dials the lead. (The app, and the
    message's sound name.)"""
    campaign = tmp_path / "machines.yaml"
    sound = f"callflow-test/{message_sound.stem}"
    campaign.write_text(CAMPAIGN.format(sound=sound))
    app = await dialer_apps(
        campaign, [{"number": number, "timezone": "UTC", "line": 2}], queues=QUEUES
    )
    assert app.queues is not None
    await phones("agent1", auto_answer=True)  # an agent free: progressive dials one line
    app.queues.login("agent1")
    app.store.set_campaign_state("machines", "running")
    return app, sound


async def message_left(app: App, sound: str, greeting: str) -> tuple[EventRecord, float]:
    """The campaign's machine event once written: the message was ``sound``, the wait for
    the beep ended as ``greeting`` says; (the event, the seconds waited)."""
    await wait_for_events(app, "campaign.machine", timeout=60)
    [machine] = app.store.events(kind="campaign.machine")
    print(f"campaign.machine: {machine.data}")
    assert machine.data["message"] == [f"sound:{sound}"], machine.data
    assert machine.data["greeting"] == greeting, machine.data
    waited = machine.data["waited"]
    assert isinstance(waited, float), machine.data
    return machine, waited


def recordings_from_now(pstn: SandboxInfo) -> Callable[[], list[Path]]:
    """The PSTN machine's recordings (Record() after its beep) made from now on."""
    spool = Path(pstn.home) / "state" / "spool" / "recording"
    before = set(spool.glob("machine-*.wav"))
    return lambda: sorted(set(spool.glob("machine-*.wav")) - before)


async def the_recording(new: Callable[[], list[Path]]) -> Path:
    """The one new recording, once Asterisk has closed it (when the call is over)."""
    await until(lambda: len(new()) == 1 and wav_closed(new()[0]), timeout=30)
    [recording] = new()
    return recording


def attempts_over(app: App) -> bool:
    """The campaign's attempts are there and all ended (the calls hung up)."""
    attempts = app.store.campaign_attempts("machines")
    return bool(attempts) and all(a["state"] == "ended" for a in attempts)


@pytest.fixture
def message_sound(asterisk: SandboxInfo) -> Iterator[Path]:
    """A 3 s 1 kHz tone as an Asterisk sound (``callflow-test/...``), removed afterwards."""
    folder = asterisk.sounds_dir / "callflow-test"
    folder.mkdir(exist_ok=True)
    path = write_tone(folder / f"machine-message-{os.getpid()}.wav", MESSAGE_SECONDS, MESSAGE_HZ)
    yield path
    path.unlink(missing_ok=True)


async def test_a_campaigns_machine_message_starts_after_the_beep_and_is_recorded_whole(
    dialer_apps: DialerAppFactory,  # noqa: F811 (the fixture imported above)
    pstn: SandboxInfo,
    phones: PhoneFactory,
    message_sound: Path,
    tmp_path: Path,
) -> None:
    """One lead, the PSTN's machine. AMD's verdict comes within the greeting; callflow
    waits in the dialplan until the greeting and beep are over (SILENCE, some seconds
    later, under the 10 s bound) and only then plays the message: the machine had begun to
    record before callflow asked for it, and its recording holds the whole 3 s tone (played
    at the verdict, as before, it would have been lost under the greeting)."""
    new = recordings_from_now(pstn)
    app, sound = await campaign_calling(MACHINE, dialer_apps, phones, message_sound, tmp_path)
    machine, waited = await message_left(app, sound, "SILENCE")
    # The greeting went on for seconds after AMD's verdict, then the beep, then 1 s of quiet.
    assert 2.0 < waited < GREETING_LIMIT + 1, machine.data
    [amd] = {a["data"].get("amd") for a in app.store.campaign_attempts("machines")}
    assert amd == "MACHINE"

    await until(lambda: attempts_over(app), timeout=30)  # callflow hung up after the message
    [attempt] = app.store.campaign_attempts("machines")
    assert attempt["outcome"] == "machine", attempt

    recording = await the_recording(new)
    # The machine began to record (after its greeting and beep) before callflow asked for
    # the message (its campaign.machine event, written once the wait was over).
    record_start = int(recording.stem.rsplit("-", 1)[1]) / 1000
    asked = machine.at.timestamp()
    message = tone_seconds(recording, MESSAGE_HZ)
    print(
        f"{recording.name}: the message asked for {asked - record_start:.3f} s after the "
        f"machine began to record; it holds {message:.2f} s of the {MESSAGE_SECONDS} s tone"
    )
    assert asked > record_start, (asked, record_start)
    assert message >= MESSAGE_SECONDS - 0.2, message
    assert message <= MESSAGE_SECONDS + 0.1, message


async def test_a_machine_that_never_goes_quiet_gets_the_message_after_the_bound(
    dialer_apps: DialerAppFactory,  # noqa: F811 (the fixture imported above)
    phones: PhoneFactory,
    message_sound: Path,
    tmp_path: Path,
) -> None:
    """The PSTN's machine whose greeting never ends (+1 555 016, it hangs up after 40 s):
    the wait for its beep gives up after 10 s (TIMEOUT) and the message is played all the
    same; callflow ends the call, long before the machine would."""
    app, sound = await campaign_calling(
        ENDLESS_MACHINE, dialer_apps, phones, message_sound, tmp_path
    )
    machine, waited = await message_left(app, sound, "TIMEOUT")
    # WaitForSilence counts whole seconds of the wall clock: between 9 and about 10 s.
    assert 9.0 < waited <= GREETING_LIMIT + 0.5, machine.data

    await until(lambda: attempts_over(app), timeout=40)
    [attempt] = app.store.campaign_attempts("machines")
    assert attempt["outcome"] == "machine", attempt
    # Hung up by callflow after the 3 s message, not by the machine (27 s after the wait).
    [ended_event] = [
        e for e in app.store.events(kind="campaign.attempt") if e.data["state"] == "ended"
    ]
    after = (ended_event.at - machine.at).total_seconds()
    print(f"the call ended {after:.2f} s after the wait")
    assert after < 20, (machine.at, ended_event.at)


def callback_queue(sound: str) -> str:
    """test_callbacks' machine queue, with one attempt and ``sound`` as its message."""
    text = MACHINE_QUEUE.replace("max_attempts: 2", "max_attempts: 1")
    text = re.sub(r"machine_message: .*", f"machine_message: {{sound: {sound}}}", text)
    assert "max_attempts: 1" in text and sound in text, text
    return text


async def test_a_callbacks_machine_message_is_left_the_same_way_and_recorded_whole(
    pstn: SandboxInfo,
    start_app: AppFactory,
    phones: PhoneFactory,
    message_sound: Path,
    tmp_path: Path,
) -> None:
    """A callback that reaches the PSTN's machine: agent1 is released at the verdict, the
    machine's greeting and beep are waited out in the dialplan as for a campaign (SILENCE),
    and the machine's recording holds the whole 3 s message."""
    sound = f"callflow-test/{message_sound.stem}"
    queues = tmp_path / "queues.yaml"
    queues.write_text(CALLBACK_QUEUES.read_text() + callback_queue(sound))
    new = recordings_from_now(pstn)
    app = await start_app([CALLBACK_FLOW], queues=queues)
    assert app.callbacks is not None and app.queues is not None
    await phones("agent1", auto_answer=True)
    app.queues.login("agent1")
    assert app.callbacks.request("callbacks_machine", MACHINE)[1]  # a new callback
    app.queues.kick()
    await wait_for_events(app, "callback.message", timeout=90)
    [message] = app.store.events(kind="callback.message")
    print(f"callback.message: {message.data}")
    assert message.data["media"] == [f"sound:{sound}"], message.data
    assert message.data["greeting"] == "SILENCE", message.data
    await wait_for_events(app, "callback.expired", timeout=30)  # out of its one attempt

    recording = await the_recording(new)
    held = tone_seconds(recording, MESSAGE_HZ)
    print(f"{recording.name}: it holds {held:.2f} s of the {MESSAGE_SECONDS} s tone")
    assert MESSAGE_SECONDS - 0.2 <= held <= MESSAGE_SECONDS + 0.1, held
