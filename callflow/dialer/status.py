"""A campaign's figures from the store, for ``callflow campaigns status`` and the API:
leads by state, attempts by outcome, contacts, abandons and each legal window's rate."""

from __future__ import annotations

from collections import Counter
from typing import Any

from callflow.dialer.campaign import Campaign
from callflow.dialer.live import PAUSED
from callflow.dialer.window import AbandonLedger
from callflow.store import SqlStore


def status_of(campaign: Campaign, store: SqlStore, now: float) -> dict[str, Any]:
    """A campaign's figures from the store: leads by state, attempts by outcome, windows."""
    attempts = store.campaign_attempts(campaign.name)
    rule = campaign.abandonment
    ledger = AbandonLedger.for_rule(
        rule.windows,
        cap=rule.cap,
        campaign_start=float(attempts[0]["dialed_at"]) if attempts else now,
        amd_false_positive_share=rule.amd_false_positive,
    )
    for row in attempts:
        at = float(row["dialed_at"])
        if row["outcome"] == "connected":
            ledger.person_connected(at)
        elif row["outcome"] == "abandoned":
            ledger.person_abandoned(at)
        elif row["outcome"] == "machine":
            ledger.machine_detected(at)
    outcomes = Counter(str(row["outcome"] or row["state"]) for row in attempts)
    leads = Counter(str(lead["state"]) for lead in store.campaign_leads(campaign.name))
    return {
        "campaign": campaign.name,
        "state": store.campaign_states().get(campaign.name, PAUSED),
        "leads": dict(leads),
        "attempts": len(attempts),
        "contacts": outcomes.get("connected", 0),
        "abandoned": outcomes.get("abandoned", 0),
        "outcomes": dict(outcomes),
        "windows": [
            {"window": w.kind, "live": w.live, "abandoned": w.abandoned, "rate": w.rate}
            for w in ledger.figures(now)
        ],
    }


__all__ = ["status_of"]
