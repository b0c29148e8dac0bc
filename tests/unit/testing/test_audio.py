"""callflow.testing.audio: telling a recording still being written from a closed one."""

from __future__ import annotations

import wave
from array import array
from pathlib import Path

from callflow.testing.audio import measure, wav_closed, write_tone


def test_a_closed_wav_is_whole(tmp_path: Path) -> None:
    path = write_tone(tmp_path / "tone.wav", 0.5)
    assert wav_closed(path)
    assert abs(measure(path).seconds - 0.5) < 0.01


def test_a_wav_whose_header_still_has_zero_sizes_is_not(tmp_path: Path) -> None:
    """What Asterisk's format_wav leaves while it records: the sizes are written at close."""
    whole = write_tone(tmp_path / "tone.wav", 0.5).read_bytes()
    recording = tmp_path / "recording.wav"
    recording.write_bytes(whole[:4] + bytes(4) + whole[8:40] + bytes(4) + whole[44:])
    assert not wav_closed(recording)


def test_a_torn_or_missing_header_is_not(tmp_path: Path) -> None:
    whole = write_tone(tmp_path / "tone.wav", 0.5).read_bytes()
    for n in (0, 4, 8, 11):
        torn = tmp_path / f"torn-{n}.wav"
        torn.write_bytes(whole[:n])
        assert not wav_closed(torn), n
    assert not wav_closed(tmp_path / "absent.wav")


def test_a_closed_odd_length_with_its_pad_byte_is_whole(tmp_path: Path) -> None:
    whole = write_tone(tmp_path / "tone.wav", 0.5).read_bytes()
    padded = tmp_path / "padded.wav"
    padded.write_bytes(whole + b"\0")
    assert wav_closed(padded)
    longer = tmp_path / "longer.wav"  # data past what the header says: still being written
    longer.write_bytes(whole + bytes(320))
    assert not wav_closed(longer)


def test_the_last_seconds_of_a_recording_are_measured_alone(tmp_path: Path) -> None:
    """A tone, then silence: the whole file is partly voiced, its last second not at all."""
    tone = write_tone(tmp_path / "tone.wav", 2.0)
    with wave.open(str(tone), "rb") as wav:
        voiced = wav.readframes(wav.getnframes())
    path = tmp_path / "then_silence.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(voiced + array("h", [0] * 8000 * 3).tobytes())
    whole = measure(path)
    assert abs(whole.seconds - 5.0) < 0.01 and abs(whole.voiced_seconds - 2.0) < 0.05
    end = measure(path, last=1.0)
    assert abs(end.seconds - 1.0) < 0.01 and end.voiced_seconds == 0
    assert abs(measure(path, last=4.0).voiced_seconds - 1.0) < 0.05
    assert measure(path, last=60.0).seconds == whole.seconds  # longer than the file: all of it
