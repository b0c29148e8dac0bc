"""The flows in service, by number dialled; reloaded only when the new files are valid.

A call takes a reference to the Flow it starts on and keeps it, so a reload never changes a
call in progress: new calls get the new flow, running ones finish on the old one.

A reload while serving (:meth:`FlowRegistry.reload_async`) reads and checks the files in a
worker thread, so calls keep being served meanwhile (a 5000-node flow takes seconds to
check), and swaps the number table in with one assignment on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from callflow.flow import model as m
from callflow.flow.diagnostics import Diagnostic
from callflow.flow.loader import load_flows
from callflow.prompts import missing_prompts
from callflow.queue.config import QueueCenter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Validation:
    """Flows that serve together, checked as ``callflow check`` and ``callflow run`` both
    check them: the flows free of errors, every diagnostic, and the problems that are about
    no one place in a file (text prompts not built)."""

    flows: tuple[m.Flow, ...]
    diagnostics: tuple[Diagnostic, ...]
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when the flows may go into service: no error at all."""
        return not self.problems and not any(d.is_error for d in self.diagnostics)

    def table(self) -> dict[str, m.Flow]:
        """Number dialled -> the flow serving it."""
        return {number: flow for flow in self.flows for number in flow.entries}

    def files(self) -> set[str]:
        """Every file the flows were read from, includes too."""
        return {file for flow in self.flows for file in flow.files or (flow.path,)}


def validate(
    paths: Sequence[Path | str],
    *,
    sounds: Collection[str] | None = None,
    queues: QueueCenter | None = None,
    prompts_dir: Path | None = None,
) -> Validation:
    """Check flow files as they would serve together.

    With ``queues``, queue nodes must name its queues and the flows must hold the nodes
    those queues send callers back to; with ``prompts_dir`` (Asterisk's sounds), every
    say: prompt must be built there.
    """
    flows, diagnostics = load_flows(
        [str(p) for p in paths],
        sounds,
        queues.exits() if queues is not None else None,
        (queues.path or "") if queues is not None else "",
    )
    problems = []
    if prompts_dir is not None:
        for text, prompt_path in missing_prompts(flows, prompts_dir):
            problems.append(
                f"text prompt not built: {text!r} (expected {prompt_path}); "
                "run 'callflow prompts build'"
            )
    return Validation(tuple(flows), tuple(diagnostics), tuple(problems))


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
        self._reloading = asyncio.Lock()  # one reload at a time; later ones wait their turn

    def flow_for(self, dialled: str) -> m.Flow | None:
        """The flow that serves this number now."""
        return self._by_number.get(dialled)

    @property
    def numbers(self) -> list[str]:
        """Every number or extension some flow serves."""
        return sorted(self._by_number)

    def load(self) -> ReloadResult:
        """Validate every file; swap the table in only if all of them are free of errors."""
        return self._apply(self._validate())

    def _validate(self) -> Validation:
        """Read and check the files (no shared state is touched: safe in a worker thread)."""
        return validate(
            self.paths, sounds=self.sounds, queues=self.queues, prompts_dir=self.prompts_dir
        )

    def _apply(self, checked: Validation) -> ReloadResult:
        ok = checked.ok
        if ok:
            self._by_number = checked.table()  # one assignment: calls see old or new, whole
            self._mtimes = self._stat(checked.files())
            self.generation += 1
            for flow in checked.flows:
                log.info("flow %s serves %s", flow.path, ", ".join(sorted(flow.entries)))
        return ReloadResult(applied=ok, diagnostics=checked.diagnostics, problems=checked.problems)

    def changed(self) -> bool:
        """True if any file of the flows in service (includes too) changed on disk."""
        return bool(self._mtimes) and self._stat(self._mtimes) != self._mtimes

    def reload(self, reason: str) -> ReloadResult:
        """Reload and log the outcome: applied, or refused with each error. This blocks
        while the files are read; on a running event loop use :meth:`reload_async`."""
        return self._report(reason, self.load())

    async def reload_async(self, reason: str) -> ReloadResult:
        """Reload with the reading and checking in a worker thread, so calls go on being
        served; the new table is swapped in on the event loop."""
        async with self._reloading:
            checked = await asyncio.to_thread(self._validate)
            return self._report(reason, self._apply(checked))

    def _report(self, reason: str, result: ReloadResult) -> ReloadResult:
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
