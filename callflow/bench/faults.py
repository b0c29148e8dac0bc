"""The faults benchmark: the figures of the real-call fault tests, as a table or JSON lines.

The faults themselves are staged by ``tests/integration/test_faults.py`` on real calls (a
sandbox Asterisk and its PSTN, baresip, a loop-mounted ext4 for the store, the fault proxy in
front of ARI); each test prints its figures on a ``FAULTS {json}`` line. This bench runs that
module with pytest in a checkout of callflow (root: it mounts and starts Asterisk) and
gathers those lines, so the figures in the note are exactly what the tests measured and
checked:

``asterisk_restart``
    per restart (crash: SIGKILL, graceful: SIGTERM) with 36 PSTN callers: seconds from
    Asterisk answering again to callflow connected and resynced, callers queued at the
    restart, how the old calls ended (each once), the new caller's digits read back.
``store_faults`` / ``store_remounted_read_only``
    the store's disk full, its files immutable, the kernel's remount read-only: the call's
    outcome, writes held in memory, ERROR lines, integrity after.
``ari_5xx`` / ``ari_slow``
    the share of ARI requests answered 503 (before or after Asterisk acted) against calls
    completed; one call's requests 3 s late against another call's duration.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests" / "integration" / "test_faults.py"
MARK = "FAULTS "
ONLY = {
    "restart": "restarted_under_load",
    "store": "store",
    "ari": "5xx or slow",
}


def run_faults_bench(
    *, only: str | None, as_json: bool, write: Callable[[str], None] = print
) -> int:
    """Run the fault tests (all, or ``only`` one family) and print their figures; pytest's
    exit status (the figures of a failed test are printed too)."""
    if not TESTS.exists():
        write(f"bench faults needs a checkout of callflow: {TESTS} is missing")
        return 2
    command = [sys.executable, "-m", "pytest", str(TESTS), "-q", "-s", "-p", "no:cacheprovider"]
    if only is not None:
        command += ["-k", ONLY[only]]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603 (our own interpreter and test file)
    found = [json.loads(line[line.index(MARK) + len(MARK) :]) for line in _marked(done.stdout)]
    if as_json:
        for figures in found:
            write(json.dumps(figures))
    else:
        for figures in found:
            write(_line(figures))
    if done.returncode != 0:
        tail = done.stdout.strip().splitlines()[-1:] or ["(no output)"]
        write(f"fault tests failed (pytest exit {done.returncode}): {tail[0]}")
    return done.returncode


def _marked(output: str) -> list[str]:
    # pytest's progress dots share the line with the first print of a test.
    return [line for line in output.splitlines() if MARK + "{" in line]


def _line(figures: dict[str, Any]) -> str:
    """One readable line per test: its name, then its figures."""
    test = str(figures.pop("test"))
    if test == "asterisk_restart":
        rounds = figures.pop("rounds")
        kind = "crash" if figures.pop("crash") else "graceful"
        cells = [
            f"reconnect {r['reconnect_s']} s, {r['queued_at_restart']} queued, "
            f"new caller typed {r['typed']} ({r['new_call']})"
            for r in rounds
        ]
        return f"{test:<26} {kind}, {figures['callers']} callers: " + "; ".join(cells)
    return f"{test:<26} " + ", ".join(f"{key}={value}" for key, value in figures.items())
