"""Abandoned-call accounting per legal window: how many live calls and abandons each window
holds, its rate, and the abandons it can still afford (pure, times passed in).

The rules (../shared/domain.md, "Outbound dialing and abandonment rules"):

- **abandoned**: a person answered and no agent was connected within 2 seconds of the end
  of their greeting (:func:`is_abandoned`); they hear the safe-harbor message.
- ``us-30d`` (FTC Telemarketing Sales Rule): abandons / person-answered calls, over the
  campaign while it is younger than 30 days, then over each *successive* 30-day period from
  the campaign's start ("or portion thereof": the current period counts from its start).
- ``uk-24h`` (Ofcom): abandons / live calls over the *rolling* 24 hours before now, and the
  estimated answering-machine-detection false positives count: each call AMD hangs up on as a
  machine adds ``amd_false_positive_share`` (the estimated share of "machine" verdicts that
  were people) both to the abandons and to the live calls (they were live people).

Counts are floats because the false-positive estimate is fractional.

Worked example (``uk-24h``, share 0.02): 1000 people answered, 20 abandoned, 500 machine
verdicts -> (20 + 10) / (1000 + 10) = 2.97 %. The same calls under ``us-30d``: 20 / 1000 = 2 %.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal

WindowKind = Literal["us-30d", "uk-24h"]

#: The 2-second rule: an agent must be connected within this many seconds of the greeting's end.
CONNECT_WITHIN = 2.0
DAY = 86_400.0
US_PERIOD = 30 * DAY


def is_abandoned(greeting_end: float, agent_connected: float | None) -> bool:
    """A person-answered call is abandoned when no agent was connected within 2 s of the end
    of their greeting (``agent_connected`` is ``None`` when none ever was)."""
    return agent_connected is None or agent_connected - greeting_end > CONNECT_WITHIN


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """One window's figures at one moment: what the pacing policy sees of it."""

    kind: WindowKind
    live: float
    abandoned: float
    cap: float

    @property
    def rate(self) -> float:
        """Abandons / live calls (0 before any live call)."""
        return self.abandoned / self.live if self.live > 0 else 0.0

    def budget(self, target: float) -> float:
        """Abandons the window can still take and stay at ``target`` rate (may be negative)."""
        return target * self.live - self.abandoned


class AbandonWindow:
    """One legal window's running counts. Feed it outcomes in time order; read
    :meth:`figures` at any ``now`` (not before the last outcome fed)."""

    def __init__(
        self,
        kind: WindowKind,
        *,
        cap: float = 0.03,
        campaign_start: float = 0.0,
        amd_false_positive_share: float = 0.0,
    ) -> None:
        if not 0.0 < cap < 1.0:
            raise ValueError(f"cap must be a share between 0 and 1, not {cap}")
        self.kind: WindowKind = kind
        self.cap = cap
        self._start = campaign_start
        self._fp_share = amd_false_positive_share if kind == "uk-24h" else 0.0
        # us-30d: totals of the current period; uk-24h: events of the last 24 h, and totals.
        self._period = 0
        self._live = 0.0
        self._abandoned = 0.0
        self._events: deque[tuple[float, float, float]] = deque()

    def person_connected(self, at: float) -> None:
        """A person answered and reached an agent in time."""
        self._add(at, 1.0, 0.0)

    def person_abandoned(self, at: float) -> None:
        """A person answered and no agent came within 2 s (or AMD's verdict came too late)."""
        self._add(at, 1.0, 1.0)

    def machine_detected(self, at: float) -> None:
        """AMD called it a machine and the call was not connected: under ``uk-24h`` the
        estimated false-positive share of it counts as a live call and an abandon."""
        if self._fp_share > 0.0:
            self._add(at, self._fp_share, self._fp_share)

    def figures(self, now: float) -> WindowFigures:
        """The window's live calls and abandons at ``now``."""
        self._advance(now)
        return WindowFigures(self.kind, self._live, self._abandoned, self.cap)

    def _add(self, at: float, live: float, abandoned: float) -> None:
        self._advance(at)
        self._live += live
        self._abandoned += abandoned
        if self.kind == "uk-24h":
            self._events.append((at, live, abandoned))

    def _advance(self, now: float) -> None:
        if self.kind == "us-30d":
            period = int((now - self._start) // US_PERIOD)
            if period > self._period:
                self._period, self._live, self._abandoned = period, 0.0, 0.0
            return
        events = self._events
        while events and events[0][0] <= now - DAY:
            _, live, abandoned = events.popleft()
            self._live -= live
            self._abandoned -= abandoned
        if not events:  # no drift from float subtraction
            self._live = self._abandoned = 0.0


class AbandonLedger:
    """Every window a campaign is held to, fed the same outcomes."""

    def __init__(self, windows: list[AbandonWindow]) -> None:
        if not windows:
            raise ValueError("a campaign is held to at least one window")
        self.windows = windows

    @classmethod
    def for_rule(
        cls,
        kinds: tuple[WindowKind, ...] = ("us-30d", "uk-24h"),
        *,
        cap: float = 0.03,
        campaign_start: float = 0.0,
        amd_false_positive_share: float = 0.0,
    ) -> AbandonLedger:
        """The windows of a campaign's abandonment rule."""
        return cls(
            [
                AbandonWindow(
                    kind,
                    cap=cap,
                    campaign_start=campaign_start,
                    amd_false_positive_share=amd_false_positive_share,
                )
                for kind in kinds
            ]
        )

    def person_connected(self, at: float) -> None:
        for window in self.windows:
            window.person_connected(at)

    def person_abandoned(self, at: float) -> None:
        for window in self.windows:
            window.person_abandoned(at)

    def machine_detected(self, at: float) -> None:
        for window in self.windows:
            window.machine_detected(at)

    def figures(self, now: float) -> tuple[WindowFigures, ...]:
        """Each window's figures at ``now``."""
        return tuple(window.figures(now) for window in self.windows)


__all__ = [
    "CONNECT_WITHIN",
    "DAY",
    "AbandonLedger",
    "AbandonWindow",
    "WindowFigures",
    "WindowKind",
    "is_abandoned",
]
