"""One live call and its telephony primitives, over ARI: answer, play with barge-in, collect
keys, ring agents, converse, hang up (:mod:`.primitives`); and what a (re)started callflow does
with the calls Asterisk still holds (:mod:`.recovery`, pure).

The layer between the ARI client and the decisions: it knows channels and bridges, not flows
or queues.
"""

from callflow.call.ids import LIFE, Lifetag
from callflow.call.primitives import (
    Attach,
    Call,
    CallEnded,
    CallerHangup,
    CallInterrupted,
    CallLost,
    Collected,
    Leg,
    Nudge,
    Recovery,
)

__all__ = [
    "LIFE",
    "Attach",
    "Call",
    "CallEnded",
    "CallInterrupted",
    "CallLost",
    "CallerHangup",
    "Collected",
    "Leg",
    "Lifetag",
    "Nudge",
    "Recovery",
]
