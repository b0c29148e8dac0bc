"""Render every ``say:`` text of the flows with espeak-ng into the sounds directory.

Each file is named by a hash of its text and voice (:func:`callflow.flow.prompts.tts_sound_name`),
so building is incremental: an unchanged text is never rendered again, and an edited text gets
a new file while calls in progress keep playing the old one. Files are 8 kHz mono 16-bit WAV,
the format Asterisk's ``format_wav`` plays without transcoding to a phone call.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from callflow.flow.prompts import TTS_DIR, tts_sound_name, variable_references


class PromptError(Exception):
    """A prompt could not be rendered (espeak-ng or sox missing or failing)."""


@dataclass
class BuildReport:
    """What a build did."""

    built: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    dynamic: list[str] = field(default_factory=list)  # texts with ${...}: rendered per call

    def summary(self) -> str:
        """One line for people."""
        line = f"{len(self.built)} built, {len(self.cached)} already built"
        if self.dynamic:
            line += f", {len(self.dynamic)} with variables (not pre-rendered)"
        return line


class Speaks(Protocol):
    """Anything with text prompts: a flow, the queues."""

    def say_texts(self) -> frozenset[tuple[str, str]]: ...


def _texts(sources: Iterable[Speaks]) -> list[tuple[str, str]]:
    found: dict[tuple[str, str], None] = {}
    for source in sources:
        for text, voice in sorted(source.say_texts()):
            found.setdefault((text, voice), None)
    return list(found)


def prompt_file(sounds_dir: Path, text: str, voice: str) -> Path:
    """Where the rendered audio of that text lives."""
    return sounds_dir / f"{tts_sound_name(text, voice)}.wav"


def missing_prompts(flows: Iterable[Speaks], sounds_dir: Path) -> list[tuple[str, Path]]:
    """Static ``say:`` texts whose audio is not in the sounds directory yet."""
    return [
        (text, path)
        for text, voice in _texts(flows)
        if not variable_references(text)
        and not (path := prompt_file(sounds_dir, text, voice)).exists()
    ]


def _render(text: str, voice: str, target: Path) -> None:
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise PromptError(f"{tool} is not installed: apt-get install {tool}")
    with tempfile.TemporaryDirectory(prefix="callflow-tts-") as tmp:
        raw = Path(tmp) / "raw.wav"
        # The text goes to espeak-ng on stdin, never on a command line parsed by a shell.
        # Debian's espeak-ng and sox from PATH, with argument lists (no shell).
        spoken = subprocess.run(  # noqa: S603
            ["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), "--stdin"],  # noqa: S607
            input=text.encode(),
            capture_output=True,
            check=False,
        )
        if spoken.returncode != 0 or not raw.exists():
            raise PromptError(f"espeak-ng failed for voice {voice!r}: {spoken.stderr.decode()}")
        partial = target.with_suffix(".partial.wav")
        converted = subprocess.run(  # noqa: S603
            ["sox", str(raw), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed", str(partial)],  # noqa: S607
            capture_output=True,
            check=False,
        )
        if converted.returncode != 0:
            raise PromptError(f"sox failed: {converted.stderr.decode()}")
        os.replace(partial, target)


def build_prompts(flows: Iterable[Speaks], sounds_dir: Path) -> BuildReport:
    """Render each static text prompt not yet in ``sounds_dir``; keep an index for people."""
    report = BuildReport()
    out_dir = sounds_dir / TTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    index_path = out_dir / "index.json"
    try:
        index: dict[str, dict[str, str]] = json.loads(index_path.read_text())
    except (OSError, ValueError):
        index = {}
    for text, voice in _texts(flows):
        if variable_references(text):
            report.dynamic.append(text)
            continue
        target = prompt_file(sounds_dir, text, voice)
        if target.exists():
            report.cached.append(text)
        else:
            _render(text, voice, target)
            report.built.append(text)
        index[target.stem] = {"text": text, "voice": voice}
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    return report
