"""Measure what a softphone heard: level of a 16-bit PCM WAV file, silence or not."""

from __future__ import annotations

import math
import os
import wave
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AudioLevel:
    """Loudness of a recording."""

    seconds: float
    rms: float  # 0..32767
    peak: int
    voiced_seconds: float  # time spent in 20 ms frames louder than the silence threshold

    @property
    def dbfs(self) -> float:
        """RMS level relative to full scale (-inf for digital silence)."""
        return 20 * math.log10(self.rms / 32767) if self.rms > 0 else float("-inf")


def measure(path: Path, threshold: int = 300, *, last: float | None = None) -> AudioLevel:
    """Read a mono or stereo 16-bit WAV file and measure it in 20 ms frames (only its
    ``last`` seconds, if given: what was heard just before the call ended)."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path}: expected 16-bit PCM, got {8 * wav.getsampwidth()}-bit")
        rate = wav.getframerate()
        frames = wav.getnframes()
        if last is not None:
            wav.setpos(max(0, frames - round(last * rate)))
        samples = array("h")
        samples.frombytes(wav.readframes(frames))
        channels = wav.getnchannels()
    if not samples:
        return AudioLevel(0.0, 0.0, 0, 0.0)
    frame = max(1, rate * channels // 50)
    voiced = 0
    total = 0.0
    for start in range(0, len(samples), frame):
        chunk = samples[start : start + frame]
        energy = sum(s * s for s in chunk)
        total += energy
        if math.sqrt(energy / len(chunk)) > threshold:
            voiced += 1
    rms = math.sqrt(total / len(samples))
    return AudioLevel(
        seconds=len(samples) / channels / rate,
        rms=rms,
        peak=max(abs(min(samples)), abs(max(samples))),
        voiced_seconds=voiced / 50,
    )


def wav_closed(path: Path) -> bool:
    """True once a WAV file that another process records is closed: Asterisk writes its
    header with zero sizes when it opens the file and the real ones when it closes it, so a
    file is whole when its RIFF size covers it (with the pad byte of an odd length). Until
    then, reading it gives a torn header or no frames at all."""
    try:
        with path.open("rb") as file:
            header = file.read(12)
            size = os.fstat(file.fileno()).st_size
    except FileNotFoundError:
        return False
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:] != b"WAVE":
        return False
    riff = int.from_bytes(header[4:8], "little")
    return riff > 36 and riff + 8 in (size, size - 1)


def write_tone(path: Path, seconds: float, freq: float = 440.0, rate: int = 8000) -> Path:
    """Write a mono 16-bit sine tone: a microphone signal for a test phone."""
    n = int(seconds * rate)
    samples = array("h", (int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)))
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.tobytes())
    return path


def is_tone(
    samples: Sequence[int], rate: int, freq: float, *, min_rms: float = 300, share: float = 0.6
) -> bool:
    """True if the samples are loud and mostly one frequency: the Goertzel power at
    ``freq`` is at least ``share`` of their power. Music or speech does not pass."""
    if not samples:
        return False
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    q1 = q2 = 0.0
    for x in samples:
        q1, q2 = coeff * q1 - q2 + x, q1
    power = q1 * q1 + q2 * q2 - coeff * q1 * q2
    energy = float(sum(s * s for s in samples))
    if math.sqrt(energy / len(samples)) <= min_rms:
        return False
    return 2 * power / (len(samples) * energy) >= share


def tone_seconds(path: Path, freq: float, *, frame_ms: int = 20) -> float:
    """How long a mono 16-bit recording holds the tone at ``freq`` (in ``frame_ms`` frames)."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
            raise ValueError(f"{path}: expected mono 16-bit PCM")
        rate = wav.getframerate()
        samples = array("h")
        samples.frombytes(wav.readframes(wav.getnframes()))
    frame = max(1, rate * frame_ms // 1000)
    toned = sum(
        is_tone(samples[i : i + frame], rate, freq)
        for i in range(0, len(samples) - frame + 1, frame)
    )
    return toned * frame / rate
