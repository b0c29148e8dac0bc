"""The ids callflow gives what it creates in Asterisk: one tag per node and process life."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field


@dataclass
class Lifetag:
    """The tag every resource id callflow makes carries (legs, bridges): this node's name and
    this process life's random part, ``<node>.<run>`` (or ``<run>`` with no node set).

    A restarted callflow never takes an older life's leftovers for its own (the run part
    differs), and a node never takes another node's bridges for stale ones (the node part
    differs). ``node`` is set once at start, from the settings.
    """

    run: str = field(default_factory=lambda: secrets.token_hex(3))
    node: str = ""

    def __str__(self) -> str:
        return f"{self.node}.{self.run}" if self.node else self.run


LIFE = Lifetag()


__all__ = ["LIFE", "Lifetag"]
