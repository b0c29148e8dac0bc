"""Prompts: turn flow prompts into Asterisk media URIs, and name cached text-to-speech sounds.

ARI's ``play`` understands ``sound:``, ``digits:`` and ``number:`` media but has no way
to say a date or a time, so dates and times are spelt out here with the core
``digits/*`` sounds, the way Asterisk's ``SayUnixTime()`` does for English; so are digits,
and numbers in English, so that a key press can stop them (see :func:`digit_sound`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from collections.abc import Callable, Iterable

from callflow.flow.model import Prompt, Say, SayDate, SayDigits, SayNumber, SayTime, Sound

# Formats Asterisk can play a sound from; a sound exists if any of these files does.
SOUND_EXTENSIONS = (
    "wav",
    "WAV",
    "wav16",
    "gsm",
    "ulaw",
    "alaw",
    "sln",
    "sln16",
    "sln48",
    "g722",
    "g729",
    "ogg",
    "siren7",
    "siren14",
    "h264",
)

TTS_DIR = "callflow-tts"
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
# A sound name filled in from variables (a caller ID, keys a caller pressed): folders and
# names of letters, digits, _ + - and inner dots only, so that no value climbs out of the
# sounds folder (``../``) or names an absolute path.
_SAFE_SOUND_NAME = re.compile(
    r"[A-Za-z0-9_+\-][A-Za-z0-9_+\-.]*(?:/[A-Za-z0-9_+\-][A-Za-z0-9_+\-.]*)*"
)


def tts_sound_name(text: str, voice: str) -> str:
    """The prompt-cache sound name for ``text`` spoken by ``voice``: ``callflow-tts/<hash>``.

    The cache builder writes the rendered audio under this name (plus an extension) in
    the sounds directory, and the engine plays it as ``sound:<name>``.
    """
    # surrogatepass: a caller's value may hold a lone surrogate; valid text hashes as before.
    data = f"{voice}\n{text}".encode("utf-8", "surrogatepass")
    digest = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    return f"{TTS_DIR}/{digest[:16]}"


def variable_references(text: str) -> list[tuple[int, str]]:
    """Each ``${name}`` in ``text`` as (offset, name)."""
    return [(m.start(), m.group(1)) for m in _VARIABLE.finditer(text)]


def interpolate(text: str, lookup: Callable[[str], str | None]) -> str:
    """Replace each ``${name}`` with its value; unknown names become empty text."""
    return _VARIABLE.sub(lambda m: lookup(m.group(1).strip()) or "", text)


def media_for(
    prompts: Iterable[Prompt],
    voice: str,
    lookup: Callable[[str], str | None],
    language: str = "en",
) -> tuple[str, ...]:
    """ARI media URIs for prompts, with variables filled in; empty values are skipped.

    Numbers in English are said with core sounds as Asterisk says them, so that a key
    can stop them (see :func:`digit_sound`); in other languages, whose grammar Asterisk's
    ``number:`` knows, they stay ``number:`` media, which play to their end.
    """
    media: list[str] = []
    for prompt in prompts:
        if isinstance(prompt, Sound):
            name = interpolate(prompt.name, lookup)
            if "${" in prompt.name and not _SAFE_SOUND_NAME.fullmatch(name):
                continue  # a value no sound file can have: skipped, as an empty one is
            if name:
                media.append(f"sound:{name}")
        elif isinstance(prompt, Say):
            text = interpolate(prompt.text, lookup)
            if text:
                media.append(f"sound:{tts_sound_name(text, prompt.voice or voice)}")
        elif isinstance(prompt, SayDigits):
            value = interpolate(prompt.value, lookup)
            media.extend(f"sound:{digit_sound(c)}" for c in value if c in "0123456789*#")
        elif isinstance(prompt, SayNumber):
            value = interpolate(prompt.value, lookup).strip()
            # ASCII digits, and few enough for int() (a caller's value may be any length).
            if not re.fullmatch(r"-?[0-9]{1,18}", value):
                continue
            if language.split("_")[0].split("-")[0] == "en" and abs(int(value)) < 10**9:
                media.extend(f"sound:{s}" for s in number_sounds(int(value)))
            else:
                media.append(f"number:{int(value)}")
        elif isinstance(prompt, SayDate):
            media.extend(f"sound:{s}" for s in date_sounds(interpolate(prompt.value, lookup)))
        elif isinstance(prompt, SayTime):
            media.extend(f"sound:{s}" for s in time_sounds(interpolate(prompt.value, lookup)))
    return tuple(media)


def digit_sound(key: str) -> str:
    """The core sound saying one digit, star or pound, as ``ast_say_digit_str`` plays it.

    Digits are said with these sounds, one playback each, rather than with ARI's
    ``digits:`` media: Asterisk 22 cannot stop a ``digits:`` playback once it has begun
    (res_stasis_playback marks only sound, recording and tone media "controllable"), so
    a caller's key could not silence a read-back.
    """
    return {"*": "digits/star", "#": "digits/pound"}.get(key, f"digits/{key}")


def number_sounds(n: int) -> list[str]:
    """Core sounds saying a whole number in English (below a billion), word for word as
    Asterisk's ``ast_say_number_full_en`` does: 1205 is "one thousand two hundred five"."""
    if n < 0:
        return ["digits/minus", *number_sounds(-n)]
    if n == 0:
        return ["digits/0"]
    sounds: list[str] = []
    for scale, word in ((1_000_000, "digits/million"), (1000, "digits/thousand")):
        if n >= scale:
            sounds += [*number_sounds(n // scale), word]
            n %= scale
    if n >= 100:
        sounds += [f"digits/{n // 100}", "digits/hundred"]
        n %= 100
    return sounds + (_number(n) if n else [])


def date_sounds(value: str) -> list[str]:
    """Sounds saying an ISO date: weekday, month, ordinal day, year; [] if not a date."""
    try:
        day = dt.date.fromisoformat(value.strip())
    except ValueError:
        return []
    sounds = [f"digits/day-{(day.weekday() + 1) % 7}", f"digits/mon-{day.month - 1}"]
    sounds += _ordinal(day.day)
    century, rest = divmod(day.year, 100)
    if century % 10 == 0 and rest < 10:  # 2005: "two thousand five"
        sounds += _number(century // 10) + ["digits/thousand"] + (_number(rest) if rest else [])
    else:  # 1999: "nineteen ninety nine"; 2025: "twenty twenty five"
        sounds += _number(century) + _under_hundred_with_oh(rest)
    return sounds


def time_sounds(value: str) -> list[str]:
    """Sounds saying ``HH:MM`` on a 12-hour clock: "two oh five p m"; [] if not a time."""
    match = re.fullmatch(r"\s*(\d{1,2}):(\d{2})(?::\d{2})?\s*", value)
    if match is None:
        return []
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        return []
    sounds = [f"digits/{hour % 12 or 12}"]
    sounds += ["digits/oclock"] if minute == 0 else _under_hundred_with_oh(minute)
    sounds.append("digits/a-m" if hour < 12 else "digits/p-m")
    return sounds


def _number(n: int) -> list[str]:
    if n < 20:
        return [f"digits/{n}"]
    tens, units = divmod(n, 10)
    return [f"digits/{tens * 10}"] + ([f"digits/{units}"] if units else [])


def _under_hundred_with_oh(n: int) -> list[str]:
    return ["digits/oh", f"digits/{n}"] if n < 10 else _number(n)


def _ordinal(n: int) -> list[str]:
    # Asterisk's core sounds have h-1..h-20 and h-30; 21st is "twenty" + "first".
    if n <= 20 or n % 10 == 0:
        return [f"digits/h-{n}"]
    return [f"digits/{n - n % 10}", f"digits/h-{n % 10}"]


def scan_sounds(directories: Iterable[str], language: str | None = None) -> frozenset[str]:
    """Names of every sound under the directories, as ``sound:`` would name them.

    For a root like ``/usr/share/asterisk/sounds`` both ``<root>/<language>/x`` and
    ``<root>/x`` count as sound ``x``, matching how Asterisk looks a sound up.
    """
    names: set[str] = set()
    suffixes = tuple(f".{ext}" for ext in SOUND_EXTENSIONS)
    for directory in directories:
        bases = [directory]
        if language:
            bases.append(os.path.join(directory, language))
        for base in bases:
            for folder, _dirs, files in os.walk(base, followlinks=True):
                relative = os.path.relpath(folder, base)
                for file in files:
                    if file.endswith(suffixes):
                        stem = file.rsplit(".", 1)[0]
                        name = stem if relative == "." else f"{relative}/{stem}"
                        names.add(name.replace(os.sep, "/"))
    return frozenset(names)
