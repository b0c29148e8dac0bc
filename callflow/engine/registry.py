"""The flows in service, by number dialled; reloaded only when the new files are valid.

A call takes a reference to the Flow it starts on and keeps it, so a reload never changes a
call in progress: new calls get the new flow, running ones finish on the old one.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from callflow.flow import model as m
from callflow.flow.diagnostics import Diagnostic, Severity, nearest
from callflow.flow.loader import load_flow
from callflow.prompts import missing_prompts
from callflow.queue.config import QueueCenter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    """What a (re)load did: applied or refused, and every diagnostic."""

    applied: bool
    diagnostics: tuple[Diagnostic, ...]
    problems: tuple[str, ...] = ()  # refusals that are not about one place in a file

    @property
    def errors(self) -> list[str]:
        """Everything that refused the load, one line each."""
        return [str(d) for d in self.diagnostics if d.is_error] + list(self.problems)


class FlowRegistry:
    """Flow files in service and the number → flow table built from them."""

    def __init__(
        self,
        paths: Sequence[Path],
        *,
        sounds: Collection[str] | None = None,
        prompts_dir: Path | None = None,
        queues: QueueCenter | None = None,
    ) -> None:
        self.paths = tuple(paths)
        self.queues = queues  # queue nodes are checked against them
        self.sounds = sounds
        self.prompts_dir = prompts_dir  # Asterisk's sounds dir: text prompts must be built
        self._by_number: dict[str, m.Flow] = {}
        self._mtimes: dict[str, float] = {}
        self.generation = 0

    def flow_for(self, dialled: str) -> m.Flow | None:
        """The flow that serves this number now."""
        return self._by_number.get(dialled)

    @property
    def numbers(self) -> list[str]:
        """Every number or extension some flow serves."""
        return sorted(self._by_number)

    def load(self) -> ReloadResult:
        """Validate every file; swap the table in only if all of them are free of errors."""
        table: dict[str, m.Flow] = {}
        diagnostics: list[Diagnostic] = []
        problems: list[str] = []
        files: set[str] = set()
        flows: list[m.Flow] = []
        exits = self.queues.exits() if self.queues is not None else None
        for path in self.paths:
            flow, found = load_flow(str(path), self.sounds, exits)
            diagnostics.extend(found)
            if flow is None:
                problems.append(f"{path}: the flow has errors")
                continue
            queue_errors = self._check_queue_nodes(flow, exits or {})
            if queue_errors:
                diagnostics.extend(queue_errors)
                problems.append(f"{path}: the flow names queues or nodes the queues lack")
                continue
            flows.append(flow)
            files.update(flow.files or (str(path),))
            for number in flow.entries:
                if number in table:
                    problems.append(
                        f"{path}: number {number} is also served by {table[number].path}"
                    )
                table[number] = flow
        if self.prompts_dir is not None:
            for text, prompt_path in missing_prompts(flows, self.prompts_dir):
                problems.append(
                    f"text prompt not built: {text!r} (expected {prompt_path}); "
                    "run 'callflow prompts build'"
                )
        ok = not problems
        if ok:
            self._by_number = table
            self._mtimes = self._stat(files)
            self.generation += 1
        return ReloadResult(applied=ok, diagnostics=tuple(diagnostics), problems=tuple(problems))

    def _check_queue_nodes(
        self, flow: m.Flow, exits: Mapping[str, frozenset[str]]
    ) -> list[Diagnostic]:
        """Each queue node's queue exists, and the nodes that queue may send callers back
        to (exit keys, overflows) are in this flow."""
        center = self.queues
        if center is None:
            return []  # no queues configured: queue nodes take their on_failure at run time
        found = []
        for node in flow.nodes.values():
            if not isinstance(node, m.QueueNode) or "${" in node.queue:
                continue
            if node.queue not in center.queues:
                found.append(
                    Diagnostic(
                        node.location,
                        Severity.ERROR,
                        f"queue node '{node.name}' names queue '{node.queue}', which "
                        f"{center.path or 'the queues file'} does not define",
                        nearest(node.queue, center.queues),
                    )
                )
                continue
            for target in sorted(exits[node.queue] - set(flow.nodes)):
                found.append(
                    Diagnostic(
                        node.location,
                        Severity.ERROR,
                        f"queue '{node.queue}' may send callers to node '{target}' "
                        f"(exit key or overflow in {center.path or 'the queues file'}), "
                        "which this flow lacks",
                    )
                )
        return found

    def changed(self) -> bool:
        """True if any file of the flows in service (includes too) changed on disk."""
        return bool(self._mtimes) and self._stat(self._mtimes) != self._mtimes

    def reload(self, reason: str) -> ReloadResult:
        """Reload and log the outcome: applied, or refused with each error."""
        result = self.load()
        if result.applied:
            log.info(
                "flows reloaded (%s): generation %d, numbers %s",
                reason,
                self.generation,
                ", ".join(self.numbers),
            )
        else:
            for error in result.errors:
                log.error("flow reload refused (%s): %s", reason, error)
            log.error("the flows in service stay unchanged (generation %d)", self.generation)
            # Remember the broken files' times so a refused edit is not retried every second.
            self._mtimes = self._stat(self._mtimes)
        return result

    @staticmethod
    def _stat(files: Collection[str]) -> dict[str, float]:
        out = {}
        for name in files:
            try:
                out[name] = Path(name).stat().st_mtime
            except OSError:
                out[name] = -1.0
        return out
