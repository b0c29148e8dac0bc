"""The agent's screen, from the store: the lead presented to or connected with an agent (its
number, time zone, the campaign's CSV fields, attempt, last outcome), and an agent's accept
or skip of a presented lead.

The supervisor API (``GET /api/agents/{agent}/lead``, ``POST .../preview/accept|skip``) and
``callflow campaigns preview AGENT`` both go through these functions. Like ``callflow
campaigns start``, an accept or skip is written to the store (a
:data:`~callflow.dialer.preview.REQUEST` event) and the campaign's runner answers it within
its next round (a second at most): it is the runner that decides, so an accept that comes
after the timeout is the timeout's, and one for a lead no longer shown is refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from callflow.dialer import preview
from callflow.dialer.campaign import Campaign
from callflow.store import SqlStore

#: The keys of a lead on the agent's screen, presented or connected.
LEAD_KEYS = ("number", "timezone", "fields", "attempt", "last_outcome")


class NothingPresented(LookupError):
    """The agent is shown no lead (an accept or skip has nothing to act on)."""


def agent_lead(store: SqlStore, campaigns: Sequence[Campaign], agent: str) -> dict[str, Any] | None:
    """What ``agent``'s screen shows: the lead presented to them (``state: presented``,
    with its presentation id and deadline) or the one they are connected with (``state:
    connected``, with the attempt's id); the newer of the two; None when neither."""
    names = {c.name for c in campaigns}
    found: list[tuple[int, dict[str, Any]]] = []
    shown = store.latest(preview.PRESENTED, "agent").get(agent)
    if shown is not None and shown.data.get("campaign") in names:
        after = store.events(call_id=shown.call_id)
        if not any(e.kind in preview.CLOSING for e in after):
            data = shown.data
            found.append(
                (
                    shown.id,
                    {
                        "agent": agent,
                        "campaign": data["campaign"],
                        "state": "presented",
                        "presentation": data["presentation"],
                        **{key: data.get(key) for key in LEAD_KEYS},
                        "presented_at": data.get("at"),
                        "deadline": data.get("deadline"),
                        "on_timeout": data.get("on_timeout"),
                    },
                )
            )
    talk = store.latest("campaign.connect", "agent").get(agent)
    if talk is not None and talk.data.get("campaign") in names:
        states = [e for e in store.events(call_id=talk.call_id) if e.kind == "campaign.attempt"]
        if states and states[-1].data.get("state") != "ended":
            data = talk.data
            found.append(
                (
                    talk.id,
                    {
                        "agent": agent,
                        "campaign": data["campaign"],
                        "state": "connected",
                        "call": talk.call_id,
                        **{key: data.get(key) for key in LEAD_KEYS},
                        "connected_at": data.get("at"),
                    },
                )
            )
    return max(found, key=lambda x: x[0])[1] if found else None


def ask(
    store: SqlStore,
    campaigns: Sequence[Campaign],
    agent: str,
    action: str,
    *,
    source: str,
) -> dict[str, Any]:
    """Ask the runner to accept or skip what ``agent`` is shown: the request written (its
    ``request`` id, the presentation and the lead); :class:`NothingPresented` if nothing is
    shown, ValueError for an action other than accept or skip."""
    if action not in preview.ACTIONS:
        raise ValueError(f"the action is {' or '.join(preview.ACTIONS)}, not {action!r}")
    lead = agent_lead(store, campaigns, agent)
    if lead is None or lead["state"] != "presented":
        raise NothingPresented(f"no lead is presented to {agent}")
    request = {
        "request": secrets.token_hex(6),
        "campaign": lead["campaign"],
        "agent": agent,
        "presentation": lead["presentation"],
        "number": lead["number"],
        "action": action,
        "source": source,
    }
    store.append(preview.REQUEST, lead["presentation"], request)
    return {**request, "lead": lead}


def verdict_of(store: SqlStore, presentation: str) -> dict[str, Any] | None:
    """How a presentation closed (``kind`` and its data), or None while it is open."""
    for event in store.events(call_id=presentation):
        if event.kind in preview.CLOSING:
            return {"kind": event.kind, **event.data}
    return None


__all__ = ["LEAD_KEYS", "NothingPresented", "agent_lead", "ask", "verdict_of"]
