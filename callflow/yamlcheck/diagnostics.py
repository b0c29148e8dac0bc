"""Diagnostics: one problem found in a YAML file, with its place, severity and a suggestion.

Flows, queues files and settings files all report this way. A diagnostic prints the way
compilers do, so editors and CI can jump to it::

    config/flows/main.yaml:12:5: error: unknown key 'timout' in menu node 'main_menu'
    (expected one of: ...); did you mean 'timeout'?
"""

from __future__ import annotations

import difflib
import enum
from collections.abc import Iterable
from dataclasses import dataclass


class Severity(enum.StrEnum):
    """How bad a problem is: an error stops the file from loading, a warning does not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Location:
    """A place in a file; line and column are 1-based, as editors count them."""

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One problem in a file: where, how bad, what is wrong, and the nearest valid word."""

    location: Location
    severity: Severity
    message: str
    suggestion: str | None = None

    @property
    def is_error(self) -> bool:
        """True when this problem stops the file from loading."""
        return self.severity is Severity.ERROR

    def __str__(self) -> str:
        return self.line()

    def line(self, *, severity: bool = True) -> str:
        """The one-line form, ``file:line:column: severity: message; did you mean ...?``;
        without ``severity`` where every line is an error anyway (a refused settings file)."""
        text = f"{self.location}: "
        if severity:
            text += f"{self.severity.value}: "
        text += self.message
        if self.suggestion is not None:
            text += f"; did you mean '{self.suggestion}'?"
        return text


def nearest(word: str, choices: Iterable[str]) -> str | None:
    """Return the valid word closest to a misspelt one, or None when nothing is close."""
    pool = sorted(set(choices))
    found = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not found:
        # Case slips ("Menu", "TIMEOUT") are common in hand-written YAML.
        lowered = {c.lower(): c for c in pool}
        found = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        return lowered[found[0]] if found else None
    return found[0]


def sort_key(diagnostic: Diagnostic) -> tuple[int, Location]:
    """Order diagnostics errors first, then by file and position."""
    return (0 if diagnostic.is_error else 1, diagnostic.location)
