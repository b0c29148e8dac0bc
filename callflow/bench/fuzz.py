"""``callflow bench fuzz``: random callers at scale, then the leak checks.

``calls`` callers (:mod:`callflow.bench.callers`: seeded scripts of keys and a hang-up time)
go through the bench's flow, queues, callbacks and campaign, ``concurrency`` at a time, and
once they are over and the rig has drained, each check of :func:`~callflow.bench.callers.
leak_checks` must find nothing: a leaked channel, bridge, playback or task, a store row left
in a live state, an ERROR line or a traceback, a call without exactly one ``call.start``
and one ``call.end``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callflow.bench import callers as cl

SANDBOX_NAME = "bench-fuzz"


@dataclass
class FuzzResult:
    """The run's figures and its checks."""

    calls: int
    concurrency: int
    seed: int
    store: str = "sqlite"
    seconds: float = 0.0
    drain_seconds: float = 0.0
    figures: list[tuple[str, int]] = field(default_factory=list)
    checks: list[cl.Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def passed(self) -> bool:
        return self.ok

    def lines(self) -> list[str]:
        head = (
            f"callflow bench fuzz: {self.calls} calls, {self.concurrency} at a time, seed "
            f"{self.seed}, {self.store} store; {self.seconds:.0f} s of calls, drained in "
            f"{self.drain_seconds:.0f} s"
        )
        verdict = "every check passed" if self.ok else "CHECKS FAILED"
        return [
            head,
            "",
            *cl.format_figures(self.figures),
            "",
            *cl.format_checks(self.checks),
            "",
            verdict,
        ]

    def json_lines(self) -> list[str]:
        out = [json.dumps({"bench": "fuzz", "figure": n, "count": c}) for n, c in self.figures]
        out += [
            json.dumps(
                {
                    "bench": "fuzz",
                    "check": c.name,
                    "found": c.found,
                    "allowed": c.allowed,
                    "ok": c.ok,
                    "detail": c.detail,
                }
            )
            for c in self.checks
        ]
        out.append(
            json.dumps(
                {
                    "bench": "fuzz",
                    "calls": self.calls,
                    "seed": self.seed,
                    "concurrency": self.concurrency,
                    "store": self.store,
                    "seconds": round(self.seconds),
                    "ok": self.ok,
                }
            )
        )
        return out


async def fuzz(
    *,
    calls: int,
    concurrency: int,
    seed: int,
    workdir: Path,
    name: str = SANDBOX_NAME,
    longest: float = 60.0,
    rate: float = 10.0,
    store: str = "sqlite",
    progress: cl.Progress,
) -> FuzzResult:
    """Run the callers through a fresh rig and check what is left."""
    result = FuzzResult(calls, concurrency, seed, store)
    leads = cl.campaign_leads(seed, min(cl.MAX_LEADS, max(4, calls // 100)))
    async with cl.rig(name, workdir, leads=leads, progress=progress, store=store) as bench:
        loop = asyncio.get_running_loop()
        began = loop.time()
        progress(f"{calls} callers, {concurrency} at a time (seed {seed}) from {cl.now_utc()}")
        await cl.place(
            bench,
            cl.scripts(seed, calls, longest=longest),
            concurrency=concurrency,
            rate=rate,
            progress=progress,
        )
        result.seconds = loop.time() - began
        progress("every caller is done; draining")
        result.drain_seconds = await cl.drain(bench, timeout=cl.DRAIN_SECONDS, progress=progress)
        tally = bench.callers.tally
        result.checks = await cl.leak_checks(bench, tally.answered, tally.placed)
        result.checks.insert(0, cl.Check("callers stuck (no end seen)", tally.stuck))
        result.figures = cl.figures_rows(bench)
    return result


def run_fuzz_bench(
    *,
    calls: int,
    concurrency: int,
    seed: int,
    as_json: bool,
    longest: float = 60.0,
    rate: float = 10.0,
    store: str = "sqlite",
    workdir: Path | None = None,
    write: Callable[[str], None] = print,
) -> int:
    """The command: 0 if every check passed, 1 if one failed or the rig could not run."""

    def run(folder: Path, progress: cl.Progress) -> Coroutine[Any, Any, FuzzResult]:
        return fuzz(
            calls=calls,
            concurrency=concurrency,
            seed=seed,
            workdir=folder,
            longest=longest,
            rate=rate,
            store=store,
            progress=progress,
        )

    return cl.run_command("fuzz", run, workdir=workdir, as_json=as_json, write=write)
