"""The callback as a value: its states, its policy, and the row the store keeps.

::

    requested ──> waiting ──> reserved ──> dialing ──> connected ──> completed
        │  ^         │  ^  <──────┘ (agent      │
        │  │         │  │      did not answer)  ├──> retry-wait ──> waiting (again)
        │  └─────────┘  └─────── (customer-first: waiting ──> dialing)
        │  (window closed: back to requested, placed at the next opening)
        └──> expired | cancelled | failed       (from any state not yet connected)

- **requested**: accepted (number checked, not a duplicate), not in line yet: the calling
  window is closed, or its slot at the next opening has not come (``not_before``).
- **waiting**: a placeholder in the Router with the caller's original join time, priority
  and skills; live callers behind it count it in their position.
- **reserved** (agent-first): the placeholder reached the front and an agent qualified; that
  agent is rung with a whisper before the customer is dialled.
- **dialing**: the customer is being called (agent-first: with the agent on the line).
- **connected**: the customer answered; agent-first: bridged with the agent; customer-first:
  waiting, as a live caller at the front of the line, for the next agent.
- **retry-wait**: the customer did not answer, was busy, or a machine answered; called again
  after the outcome's delay (``not_before``).
- **completed** / **failed** (a number that does not exist) / **expired** (past ``expires_at``
  or out of attempts) / **cancelled**: final.

Times are seconds on the caller's clock (the epoch live, simulated seconds in the simulator).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal, cast

from callflow.flow.model import Schedule
from callflow.queue.routing import CallbackMode, QueueEntry

DAY = 86_400.0


class CallbackError(Exception):
    """A callback that cannot be read back, or an event that does not apply."""


class CallbackState(enum.StrEnum):
    """Where a callback stands (the ``state`` column of the store's ``callbacks`` table)."""

    REQUESTED = "requested"
    WAITING = "waiting"
    RESERVED = "reserved"
    DIALING = "dialing"
    CONNECTED = "connected"
    COMPLETED = "completed"
    RETRY_WAIT = "retry-wait"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


FINAL = frozenset(
    {CallbackState.COMPLETED, CallbackState.FAILED, CallbackState.EXPIRED, CallbackState.CANCELLED}
)
"""States a callback never leaves."""


class DialOutcome(enum.StrEnum):
    """How a call to the customer ended without a conversation."""

    NO_ANSWER = "no_answer"
    BUSY = "busy"
    MACHINE = "machine"  # answering-machine detection (AMD in the dialplan) said so
    FAILED = "failed"  # congestion, channel unavailable, the trunk refused: try again
    INVALID = "invalid"  # the number does not exist (Q.850 cause 1, 28): never again
    LOST = "lost"  # callflow restarted mid-dial and Asterisk had no answered channel


def _default_delays() -> Mapping[DialOutcome, float]:
    return MappingProxyType(
        {
            DialOutcome.NO_ANSWER: 600.0,
            DialOutcome.BUSY: 180.0,
            DialOutcome.MACHINE: 1800.0,
            DialOutcome.FAILED: 300.0,
            DialOutcome.LOST: 30.0,
        }
    )


@dataclass(frozen=True)
class RetryPolicy:
    """At most ``max_attempts`` calls to the customer; after an unanswered one, the next
    waits the outcome's delay (seconds). ``invalid`` is never retried."""

    max_attempts: int = 3
    delays: Mapping[DialOutcome, float] = field(default_factory=_default_delays)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("a callback needs at least one attempt")
        if any(delay < 0 for delay in self.delays.values()):
            raise ValueError("retry delays cannot be negative")

    def delay(self, outcome: DialOutcome) -> float:
        """Seconds before the next attempt after ``outcome``."""
        return self.delays.get(outcome, self.delays.get(DialOutcome.FAILED, 300.0))


@dataclass(frozen=True)
class CallingWindow:
    """When a callback may be placed: within the queue's ``hours`` (None: any time) and,
    when the customer's timezone is known, within ``customer_hours`` of their local day
    (minutes after midnight; None: any time). The default, 08:00-21:00, is the US
    telemarketing rule's, a fair floor for any call a customer did not just make."""

    hours: Schedule | None = None
    customer_hours: tuple[int, int] | None = (8 * 60, 21 * 60)

    def __post_init__(self) -> None:
        if self.customer_hours is not None:
            start, end = self.customer_hours
            if not 0 <= start < end <= 1440:
                raise ValueError("customer_hours must be (start, end) minutes, start < end")


@dataclass(frozen=True)
class CallbackPolicy:
    """One queue's callback rules.

    ``mode``: agent-first (reserve and ring an agent, then dial) or customer-first (dial,
    then the next agent); ``expiry``: seconds after the request after which it is given up;
    ``opening_spread``: callbacks requested while closed are placed over this many seconds
    after the opening, never faster than the logged-in agents take them, at
    ``handle_time`` seconds each; ``machine_message``: leave a message on a machine;
    ``customer_wait``: customer-first, seconds the answered customer waits for an agent
    (0: no limit), then ``requeue`` (the callback back in line at its place, called again)
    or ``end`` (expired).
    """

    mode: CallbackMode = "agent-first"
    retry: RetryPolicy = RetryPolicy()
    expiry: float = DAY
    window: CallingWindow = CallingWindow()
    opening_spread: float = 90 * 60.0
    handle_time: float = 300.0
    machine_message: bool = False
    customer_wait: float = 0.0
    customer_wait_then: Literal["requeue", "end"] = "requeue"

    def __post_init__(self) -> None:
        if self.customer_wait < 0 or self.customer_wait_then not in ("requeue", "end"):
            raise ValueError("customer_wait must be >= 0, then requeue or end")
        if self.mode not in ("agent-first", "customer-first"):
            raise ValueError(f"callback mode must be agent-first or customer-first: {self.mode}")
        if self.expiry <= 0 or self.opening_spread < 0 or self.handle_time <= 0:
            raise ValueError("expiry and handle_time must be positive, opening_spread >= 0")


def _no_levels() -> Mapping[str, int]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Callback:
    """One callback: who to call, their place in line, and where it stands."""

    id: str
    queue: str
    number: str  # E.164, as callflow.callback.number made it
    requested_at: float
    joined_at: float  # the caller's original join time: their place in line
    expires_at: float
    mode: CallbackMode = "agent-first"
    priority: int | None = None
    skills: Mapping[str, int] = field(default_factory=_no_levels)
    timezone: str | None = None  # the customer's, when known (for the calling window)
    state: CallbackState = CallbackState.REQUESTED
    attempts: int = 0  # calls to the customer started
    not_before: float | None = None  # requested / retry-wait: not placed before this
    at_opening: bool = False  # held for a slot in the next opening (plan_opening gives it)
    agent: str | None = None  # reserved or connected agent
    outcomes: tuple[str, ...] = ()  # each unanswered attempt's outcome, in order
    reason: str = ""  # why it is in its state (a final one above all)
    updated_at: float = 0.0
    call_id: str = ""  # the call it was asked from ('' from the API or a CRM)

    @property
    def final(self) -> bool:
        """The callback is over (completed, failed, expired or cancelled)."""
        return self.state in FINAL

    def entry(self) -> QueueEntry:
        """Its placeholder in the Router: the caller's place, priority and skills."""
        return replace(self.caller_entry(), kind="callback", callback_mode=self.mode)

    def caller_entry(self) -> QueueEntry:
        """The answered customer (customer-first) in line as a caller, in the placeholder's
        place: the same join time, priority and skills."""
        return QueueEntry(
            id=self.id,
            queue=self.queue,
            caller=self.number,
            priority=self.priority,
            skills=self.skills,
            joined_at=self.joined_at,
        )

    def moved(self, state: CallbackState, now: float, **changes: Any) -> Callback:
        """This callback in ``state`` as of ``now``, with ``changes``."""
        return replace(self, state=state, updated_at=now, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (the store's ``data`` column)."""
        return {
            "id": self.id,
            "queue": self.queue,
            "number": self.number,
            "requested_at": self.requested_at,
            "joined_at": self.joined_at,
            "expires_at": self.expires_at,
            "mode": self.mode,
            "priority": self.priority,
            "skills": dict(self.skills),
            "timezone": self.timezone,
            "state": self.state.value,
            "attempts": self.attempts,
            "not_before": self.not_before,
            "at_opening": self.at_opening,
            "agent": self.agent,
            "outcomes": list(self.outcomes),
            "reason": self.reason,
            "updated_at": self.updated_at,
            "call_id": self.call_id,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Callback:
        """Read back :meth:`to_dict`; :class:`CallbackError` says what is wrong."""
        try:
            skills = data.get("skills") or {}
            if not isinstance(skills, Mapping):
                raise TypeError(f"skills must map names to levels, not {skills!r}")
            mode = data.get("mode", "agent-first")
            if mode not in ("agent-first", "customer-first"):
                raise ValueError(f"mode {mode!r}")
            not_before = data.get("not_before")
            priority = data.get("priority")
            return cls(
                id=_text(data, "id"),
                queue=_text(data, "queue"),
                number=_text(data, "number"),
                requested_at=float(data["requested_at"]),
                joined_at=float(data["joined_at"]),
                expires_at=float(data["expires_at"]),
                mode=cast(CallbackMode, mode),
                priority=None if priority is None else int(priority),
                skills=MappingProxyType({str(k): int(v) for k, v in skills.items()}),
                timezone=data.get("timezone") or None,
                state=CallbackState(data.get("state", "requested")),
                attempts=int(data.get("attempts", 0)),
                not_before=None if not_before is None else float(not_before),
                at_opening=bool(data.get("at_opening", False)),
                agent=data.get("agent") or None,
                outcomes=tuple(str(o) for o in data.get("outcomes", ())),
                reason=str(data.get("reason", "")),
                updated_at=float(data.get("updated_at", 0.0)),
                call_id=str(data.get("call_id") or ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CallbackError(f"callback {data.get('id')!r} cannot be read: {exc}") from exc


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be text, not {value!r}")
    return value


__all__ = [
    "DAY",
    "FINAL",
    "Callback",
    "CallbackError",
    "CallbackPolicy",
    "CallbackState",
    "CallingWindow",
    "DialOutcome",
    "RetryPolicy",
]
