"""``callflow bench soak``: calls kept up for a long time, memory sampled, leaks checked.

``concurrency`` random callers (:mod:`callflow.bench.callers`) are kept up for ``minutes``:
each lives a random time and is replaced when it ends. After ``warmup`` seconds the resident
memory (RSS, ``/proc/<pid>/status``) of callflow and of its Asterisk is sampled every
``every`` seconds. Growth is the mean of the last quarter of the samples against the mean of
the first quarter, and the least-squares slope over all of them (% of the first quarter's
mean per hour). At the end, the fuzz bench's leak checks.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from callflow.bench import callers as cl

SANDBOX_NAME = "bench-soak"
GROWTH_LIMIT = 5.0  # percent, last quarter's mean against the first's


def rss_kib(pid: int | None) -> int | None:
    """The resident memory of a process in KiB (None if it is gone)."""
    if pid is None:
        return None
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


@dataclass(frozen=True, slots=True)
class Growth:
    """Memory growth over the samples after the warm-up."""

    process: str
    samples: int
    first_mib: float  # mean of the first quarter
    last_mib: float  # mean of the last quarter
    growth_pct: float  # last against first
    slope_pct_per_hour: float  # least squares, against the first quarter's mean
    peak_mib: float

    @property
    def ok(self) -> bool:
        return math.isfinite(self.growth_pct) and self.growth_pct <= GROWTH_LIMIT


def growth(process: str, samples: Sequence[tuple[float, float]]) -> Growth:
    """Growth of ``(seconds, KiB)`` samples: quarters' means and the least-squares slope."""
    n = len(samples)
    if n < 4:
        nan = math.nan
        peak = max((v for _, v in samples), default=nan) / 1024
        return Growth(process, n, nan, nan, nan, nan, peak)
    quarter = n // 4
    first = sum(v for _, v in samples[:quarter]) / quarter
    last = sum(v for _, v in samples[-quarter:]) / quarter
    mean_t = sum(t for t, _ in samples) / n
    mean_v = sum(v for _, v in samples) / n
    var_t = sum((t - mean_t) ** 2 for t, _ in samples)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in samples) / var_t if var_t else 0.0
    return Growth(
        process,
        n,
        first / 1024,
        last / 1024,
        (last - first) / first * 100,
        slope * 3600 / first * 100,
        max(v for _, v in samples) / 1024,
    )


def format_growth(rows: Sequence[Growth]) -> list[str]:
    header = ("process", "samples", "first MiB", "last MiB", "growth %", "slope %/h", "peak MiB")
    body = [
        (
            g.process,
            str(g.samples),
            f"{g.first_mib:.1f}",
            f"{g.last_mib:.1f}",
            f"{g.growth_pct:+.2f}",
            f"{g.slope_pct_per_hour:+.2f}",
            f"{g.peak_mib:.1f}",
        )
        for g in rows
    ]
    return cl._table(header, body)


@dataclass
class SoakResult:
    minutes: float
    concurrency: int
    seed: int
    warmup: float
    samples: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    up: list[int] = field(default_factory=list)  # calls up at each sample
    figures: list[tuple[str, int]] = field(default_factory=list)
    checks: list[cl.Check] = field(default_factory=list)

    def growths(self) -> list[Growth]:
        return [growth(name, values) for name, values in self.samples.items()]

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def passed(self) -> bool:
        """Every leak check passed and memory grew by 5% at most."""
        return self.ok and all(g.ok for g in self.growths())

    def lines(self) -> list[str]:
        mean_up = sum(self.up) / len(self.up) if self.up else 0.0
        head = (
            f"callflow bench soak: {self.minutes:g} min, {self.concurrency} calls kept up "
            f"(mean {mean_up:.0f} up at the samples), seed {self.seed}; memory sampled "
            f"after {self.warmup:g} s of warm-up"
        )
        growth_ok = all(g.ok for g in self.growths())
        return [
            head,
            "",
            *format_growth(self.growths()),
            f"growth <= {GROWTH_LIMIT:g}%: {'met' if growth_ok else 'NOT met'}",
            "",
            *cl.format_figures(self.figures),
            "",
            *cl.format_checks(self.checks),
            "",
            "every check passed" if self.ok else "CHECKS FAILED",
        ]

    def json_lines(self) -> list[str]:
        out = [
            json.dumps(
                {
                    "bench": "soak",
                    "process": g.process,
                    "samples": g.samples,
                    "first_mib": round(g.first_mib, 2),
                    "last_mib": round(g.last_mib, 2),
                    "growth_pct": round(g.growth_pct, 3),
                    "slope_pct_per_hour": round(g.slope_pct_per_hour, 3),
                    "peak_mib": round(g.peak_mib, 2),
                    "ok": g.ok,
                }
            )
            for g in self.growths()
        ]
        out += [json.dumps({"bench": "soak", "figure": n, "count": c}) for n, c in self.figures]
        out += [
            json.dumps(
                {"bench": "soak", "check": c.name, "found": c.found, "ok": c.ok, "detail": c.detail}
            )
            for c in self.checks
        ]
        return out


async def soak(
    *,
    minutes: float,
    concurrency: int,
    seed: int,
    warmup: float,
    every: float,
    workdir: Path,
    name: str = SANDBOX_NAME,
    longest: float = 120.0,
    progress: cl.Progress,
) -> SoakResult:
    """Keep the callers up, sample memory, then drain and check."""
    result = SoakResult(minutes, concurrency, seed, warmup)
    leads = cl.campaign_leads(seed, min(cl.MAX_LEADS, max(4, int(minutes))))
    async with cl.rig(name, workdir, leads=leads, progress=progress) as bench:
        loop = asyncio.get_running_loop()
        began = loop.time()
        until = began + minutes * 60
        result.samples = {"callflow": [], "asterisk": []}

        async def sample() -> None:
            await asyncio.sleep(warmup)
            while loop.time() < until:
                at = loop.time() - began
                for process, pid in (
                    ("callflow", bench.callflow_pid()),
                    ("asterisk", bench.info.pid),
                ):
                    kib = rss_kib(pid)
                    if kib is not None:
                        result.samples[process].append((at, float(kib)))
                result.up.append(bench.callers.active)
                await asyncio.sleep(every)

        sampler = asyncio.create_task(sample(), name="soak-sampler")
        progress(f"{concurrency} callers kept up for {minutes:g} min from {cl.now_utc()}")
        try:
            await cl.place(
                bench,
                cl.scripts(seed, None, longest=longest),
                concurrency=concurrency,
                rate=5.0,
                until=until,
                progress=progress,
                every=300.0,
            )
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
        progress("the last callers are done; draining")
        await cl.drain(bench, timeout=cl.DRAIN_SECONDS, progress=progress)
        tally = bench.callers.tally
        result.checks = await cl.leak_checks(bench, tally.answered, tally.placed)
        result.checks.insert(0, cl.Check("callers stuck (no end seen)", tally.stuck))
        result.figures = cl.figures_rows(bench)
    return result


def run_soak_bench(
    *,
    minutes: float,
    concurrency: int,
    warmup: float,
    every: float,
    seed: int,
    as_json: bool,
    workdir: Path | None = None,
    write: Callable[[str], None] = print,
) -> int:
    """The command: 0 if every leak check passed and growth stayed within 5%."""

    def run(folder: Path, progress: cl.Progress) -> Coroutine[Any, Any, SoakResult]:
        return soak(
            minutes=minutes,
            concurrency=concurrency,
            seed=seed,
            warmup=warmup,
            every=every,
            workdir=folder,
            progress=progress,
        )

    return cl.run_command("soak", run, workdir=workdir, as_json=as_json, write=write)
