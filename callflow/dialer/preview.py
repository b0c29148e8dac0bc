"""Preview dialing's decisions (pure: state in, decision out; time passed in).

Preview's pacing is *one presented lead per free agent, none dialed before its accept*: a
free agent of the campaign is reserved and shown the next lead; the agent **accepts** (the
lead is dialed for them), **skips** (the lead was never dialed: its row is unchanged and it
is shown to nobody for ``retry.skipped``; the agent is shown the next one), or does nothing:
past the campaign's ``preview.timeout`` its ``on_timeout`` (``dial`` or ``skip``) decides.
:class:`PreviewDesk` holds who is shown what and answers each of those; the live runner
(:mod:`callflow.dialer.live`) drives it, writes every presentation and verdict to the event
log, and rebuilds it after a restart with :meth:`PreviewDesk.replay` (a lead shown when
callflow died is shown again, never dialed without an accept).

Events (kinds :data:`PRESENTED`, :data:`VERDICTS`, :data:`WITHDRAWN`, :data:`REQUEST`), each
with the presentation's id as its call id and ``campaign``, ``agent``, ``number`` in data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from callflow.dialer.campaign import PreviewRule

PRESENTED = "campaign.preview.presented"
ACCEPTED = "campaign.preview.accepted"
SKIPPED = "campaign.preview.skipped"
TIMEOUT = "campaign.preview.timeout"
VERDICTS = (ACCEPTED, SKIPPED, TIMEOUT)
#: A presentation taken back without a verdict (the agent left, the campaign paused, or a
#: restart shows the lead again under a new presentation).
WITHDRAWN = "campaign.preview.withdrawn"
#: An agent's accept or skip, asked through the API or the CLI; the runner answers it.
REQUEST = "campaign.preview.request"
CLOSING = (*VERDICTS, WITHDRAWN)
ACTIONS = ("accept", "skip")
Action = Literal["accept", "skip"]


class PreviewError(Exception):
    """An answer the desk refuses: nothing shown to that agent (or not that presentation)."""


@dataclass(frozen=True, slots=True)
class Presentation:
    """A lead shown to an agent: the attempt an accept would make, and until when."""

    id: str
    agent: str
    number: str
    attempt: int
    at: float
    deadline: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """What became of a presentation: ``kind`` is one of :data:`VERDICTS`; ``dial``: the
    lead is dialed now for the agent (else it goes back, held for the skip delay)."""

    kind: str
    presentation: Presentation
    dial: bool
    at: float


@dataclass
class PreviewDesk:
    """Who is shown which lead, and the leads skipped lately (see the module docstring)."""

    rule: PreviewRule = field(default_factory=PreviewRule)
    skip_delay: float = 900.0
    shown: dict[str, Presentation] = field(default_factory=dict)  # by agent
    held: dict[str, float] = field(default_factory=dict)  # a skipped number: not before

    def to_serve(self, free: Iterable[str]) -> list[str]:
        """The free agents to show a lead now: those shown none (one lead per agent)."""
        return [agent for agent in free if agent not in self.shown]

    def lines_to_dial(self) -> int:
        """Preview dials nothing on its own: a lead is dialed by its agent's accept."""
        return 0

    def may_show(self, number: str, now: float) -> bool:
        """The lead is shown to nobody, and not skipped lately."""
        if any(p.number == number for p in self.shown.values()):
            return False
        return self.held.get(number, now) <= now

    def present(
        self, presentation_id: str, agent: str, number: str, attempt: int, now: float
    ) -> Presentation:
        """Show ``number`` to ``agent`` (refused if either is taken)."""
        if agent in self.shown:
            raise PreviewError(f"{agent} is already shown {self.shown[agent].number}")
        if not self.may_show(number, now):
            raise PreviewError(f"{number} may not be shown now")
        deadline = now + self.rule.timeout if self.rule.timeout is not None else None
        shown = Presentation(presentation_id, agent, number, attempt, now, deadline)
        self.shown[agent] = shown
        return shown

    def answer(
        self, agent: str, action: str, now: float, presentation_id: str | None = None
    ) -> Verdict:
        """The agent's accept or skip of what they are shown (of ``presentation_id``, when
        given: an answer to a lead no longer shown is refused, not applied to the next)."""
        if action not in ACTIONS:
            raise PreviewError(f"the action is accept or skip, not {action!r}")
        shown = self.shown.get(agent)
        if shown is None:
            raise PreviewError(f"nothing is shown to {agent}")
        if presentation_id is not None and presentation_id != shown.id:
            raise PreviewError(f"{agent} is shown {shown.id}, not {presentation_id}")
        if shown.deadline is not None and now >= shown.deadline:
            return self._close(Verdict(TIMEOUT, shown, self.rule.on_timeout == "dial", now))
        return self._close(
            Verdict(ACCEPTED if action == "accept" else SKIPPED, shown, action == "accept", now)
        )

    def due(self, now: float) -> list[Verdict]:
        """The presentations past their timeout, decided by ``on_timeout``."""
        late = [p for p in self.shown.values() if p.deadline is not None and now >= p.deadline]
        dial = self.rule.on_timeout == "dial"
        return [self._close(Verdict(TIMEOUT, p, dial, now)) for p in sorted(late, key=_order)]

    def withdraw(self, agent: str) -> Presentation | None:
        """Take back what ``agent`` is shown, without a verdict (the lead is unchanged)."""
        return self.shown.pop(agent, None)

    def _close(self, verdict: Verdict) -> Verdict:
        shown = verdict.presentation
        del self.shown[shown.agent]
        if not verdict.dial:
            self.held[shown.number] = verdict.at + self.skip_delay
        return verdict

    def replay(self, events: Iterable[tuple[str, Mapping[str, Any]]]) -> list[Presentation]:
        """Rebuild from the event log (kind, data in order): the numbers skipped lately are
        held again; the presentations left open (a former life died while they were shown)
        are returned, to be withdrawn and shown again; nothing is shown afterwards."""
        open_: dict[str, Presentation] = {}
        for kind, data in events:
            pid = str(data.get("presentation", ""))
            if kind == PRESENTED:
                open_[pid] = Presentation(
                    pid,
                    str(data["agent"]),
                    str(data["number"]),
                    int(data.get("attempt", 1)),
                    float(data["at"]),
                    _float(data.get("deadline")),
                )
            elif kind in CLOSING and pid in open_:
                shown = open_.pop(pid)
                if kind != WITHDRAWN and not data.get("dial"):
                    self.held[shown.number] = float(data["at"]) + self.skip_delay
        self.shown.clear()
        return sorted(open_.values(), key=_order)


def _order(p: Presentation) -> tuple[float, str]:
    return (p.at, p.agent)


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


__all__ = [
    "ACCEPTED",
    "ACTIONS",
    "CLOSING",
    "PRESENTED",
    "REQUEST",
    "SKIPPED",
    "TIMEOUT",
    "VERDICTS",
    "WITHDRAWN",
    "Action",
    "Presentation",
    "PreviewDesk",
    "PreviewError",
    "Verdict",
]
