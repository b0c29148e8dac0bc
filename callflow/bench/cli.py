"""The ``callflow bench`` command: one sub-subcommand per benchmark kind (``ewt``, ``connect``,
``reload``, ``store``, ``dialer``, ``load``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from callflow.bench.callback import run_callback_bench
from callflow.bench.connect import run_connect_bench
from callflow.bench.dialer import run_dialer_bench, run_oracle_bench
from callflow.bench.ewt import run_ewt_bench
from callflow.bench.faults import ONLY, run_faults_bench
from callflow.bench.fuzz import run_fuzz_bench
from callflow.bench.load import DEFAULT_STEPS, SYSTEMS, run_load_bench
from callflow.bench.reload import run_reload_bench
from callflow.bench.soak import run_soak_bench
from callflow.bench.store import run_store_bench
from callflow.sim.dialer import check_history


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``bench`` and its kinds to the ``callflow`` parser."""
    bench = subparsers.add_parser(
        "bench",
        help="simulate and score callflow's decisions",
        description="Simulate and score callflow's decisions against baselines.",
    )
    kinds = bench.add_subparsers(dest="bench_kind", metavar="KIND", required=True)
    ewt = kinds.add_parser(
        "ewt",
        help="estimated-wait predictors vs Asterisk app_queue",
        description=(
            "Simulate queues through the live queue's own code and score what each wait "
            "predictor tells callers (at join and re-announced; the point estimate, the "
            "announced and the spoken figure) against the wait that followed: rrase (RMS "
            "error / mean wait), bias, p_over (share who waited longer than told)."
        ),
    )
    ewt.add_argument("--json", action="store_true", help="one JSON object per line")
    ewt.add_argument("--quick", action="store_true", help="small grid, fewer callers")
    ewt.add_argument("--seed", type=int, default=1, help="base seed (default: 1)")
    ewt.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPU count)")
    ewt.add_argument(
        "--only", metavar="TEXT", default=None, help="run only scenarios whose name contains TEXT"
    )
    ewt.add_argument(
        "--callers",
        type=int,
        default=None,
        help="measured callers per scenario (default: 4000, or 1000 with --quick)",
    )
    ewt.set_defaults(func=_run_ewt)

    connect = kinds.add_parser(
        "connect",
        help="agent answer -> caller hears the agent, on real calls (needs root)",
        description=(
            "Start the sandbox Asterisk, callflow with one queue, and baresip softphones; "
            "place calls into the queue and measure, from Asterisk's event timestamps, the "
            "agent's answer to caller and agent in the mixing bridge, and to the first RTP "
            "packet of the agent's voice (a tone) reaching the caller's phone, which must "
            "also have decoded it."
        ),
    )
    connect.add_argument("--calls", type=_positive, default=20, help="calls (default: 20)")
    connect.add_argument("--json", action="store_true", help="one JSON object per line")
    connect.add_argument(
        "--keep", action="store_true", help="leave the sandbox running (name bench-connect)"
    )
    connect.add_argument(
        "--parallel",
        type=int,
        choices=range(1, 7),
        default=1,
        metavar="N",
        help="callers dialling at once, with as many agents (1-6, default: 1)",
    )
    connect.add_argument(
        "--ring",
        type=float,
        default=1.0,
        help="seconds an agent's phone rings before it answers (0: auto-answer; default: 1)",
    )
    connect.set_defaults(func=_run_connect)

    reload = kinds.add_parser(
        "reload",
        help="flow reload time, and how late call events are during a reload",
        description=(
            "Generate one large flow and reload it three ways (on the event loop with "
            "PyYAML's pure-Python composer, on the loop with libyaml, in a worker thread "
            "with libyaml, as callflow does); report the reload time and how late call "
            "events, posted every 5 ms, reach their task meanwhile. No Asterisk needed."
        ),
    )
    reload.add_argument("--nodes", type=_positive, default=5000, help="flow size (default: 5000)")
    reload.add_argument("--repeat", type=_positive, default=3, help="reloads a way (default: 3)")
    reload.add_argument("--json", action="store_true", help="one JSON object per line")
    reload.set_defaults(func=_run_reload)

    store = kinds.add_parser(
        "store",
        help="last-agent lookup at queue join, and what append costs the event loop",
        description=(
            "Generate stores of 10k, 100k and 1M answered calls and time the last-agent "
            "lookup a queue join makes (the scan callflow made before, and the index); time "
            "how long append() holds the event loop, before (an INSERT on the loop) and now "
            "(the writer thread). No Asterisk needed."
        ),
    )
    store.add_argument("--json", action="store_true", help="one JSON object per line")
    store.add_argument(
        "--quick", action="store_true", help="1k, 10k and 100k answered calls, in seconds"
    )
    store.add_argument(
        "--dir",
        type=Path,
        default=None,
        help="folder for the generated stores (default: the system's temporary folder)",
    )
    store.add_argument(
        "--postgresql",
        action="store_true",
        help="look up and append on a PostgreSQL store too (a server of the run's own)",
    )
    store.set_defaults(func=_run_store)

    callback = kinds.add_parser(
        "callback",
        help="callback offers: the same callers with and without (simulated)",
        description=(
            "Serve the same simulated callers (4 hours, a peak mid-way) with no callback "
            "offer, and with offers (wait over 60 s, half accept) agent-first and "
            "customer-first, at 5, 20 and 100 agents, through the live Router, caller "
            "machines and callback machine; report abandon rate, ASA, occupancy and the "
            "callback wait."
        ),
    )
    callback.add_argument("--json", action="store_true", help="one JSON object per line")
    callback.add_argument("--quick", action="store_true", help="one hour of arrivals")
    callback.add_argument("--seed", type=int, default=1, help="seed (default: 1)")
    callback.set_defaults(func=_run_callback)

    dialer = kinds.add_parser(
        "dialer",
        help="pacing policies on simulated campaign days, against the abandon cap",
        description=(
            "Simulate 8-hour outbound campaign days (the reference campaign, a drifting "
            "answer rate, a shift change, long talk times) paced by each policy; report talk "
            "share, occupancy, the worst 24-hour and the 30-day abandon rates, attempts per "
            "agent hour."
        ),
    )
    dialer.add_argument("--json", action="store_true", help="one JSON object per line")
    dialer.add_argument("--seeds", type=_positive, default=30, help="days per row (default: 30)")
    dialer.add_argument(
        "--agents",
        type=_team_sizes,
        default=(5, 10, 20, 50, 100),
        help="team sizes, comma-separated (default: 5,10,20,50,100)",
    )
    dialer.add_argument("--jobs", type=int, default=None, help="worker processes (default: CPUs)")
    dialer.add_argument("--only", metavar="TEXT", default=None, help="scenarios containing TEXT")
    dialer.add_argument("--seed", type=int, default=1, help="base seed (default: 1)")
    dialer.add_argument(
        "--live",
        action="store_true",
        help="a scaled-down campaign on real calls (sandbox, PSTN, robot agents; needs root), "
        "next to the simulator's prediction",
    )
    dialer.add_argument(
        "--history",
        type=_history,
        default="400,8",
        metavar="LIVE,ABANDONED",
        help="--live: the campaign's live calls and abandons earlier today, in the windows of "
        "the live run and of the simulator alike (default: 400,8)",
    )
    dialer.add_argument(
        "--oracle",
        action="store_true",
        help="the bound (oracle, sim only): predictive next to an oracle pacing's sweep, "
        "reference campaign with and without AMD false positives, one process",
    )
    dialer.set_defaults(func=_run_dialer)

    fuzz = kinds.add_parser(
        "fuzz",
        help="random callers at scale through flows, queues, callbacks, a campaign; leak checks",
        description=(
            "Start the sandbox Asterisk, its PSTN and callflow (config/bench-fuzz); place "
            "seeded random callers from the PSTN (random keys at random instants, random "
            "hang-ups), many at once; then check that nothing is left: channels, bridges, "
            "playbacks, asyncio tasks, live store rows, ERROR lines, and exactly one call.start "
            "and call.end per call."
        ),
    )
    fuzz.add_argument("--calls", type=_positive, default=10000, help="callers (default: 10000)")
    fuzz.add_argument("--concurrency", type=_positive, default=50, help="at once (default: 50)")
    fuzz.add_argument("--seed", type=int, default=1, help="seed (default: 1)")
    fuzz.add_argument("--longest", type=float, default=60.0, help="longest call, s (default: 60)")
    fuzz.add_argument("--rate", type=float, default=10.0, help="most calls a second (default: 10)")
    fuzz.add_argument("--json", action="store_true", help="one JSON object per line")
    fuzz.add_argument(
        "--store",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="callflow's store: a SQLite file (default) or a PostgreSQL server of the run's own",
    )
    fuzz.add_argument("--workdir", type=Path, default=None, help="keep callflow's log, store")
    fuzz.set_defaults(func=_run_fuzz)

    soak = kinds.add_parser(
        "soak",
        help="hours of calls with churn: memory growth of callflow and Asterisk, leak checks",
        description=(
            "Keep --concurrency random callers up for --minutes (each lives a random time "
            "and is replaced when it ends); sample the RSS of callflow and Asterisk every "
            "--every seconds after --warmup; report growth (last quarter's mean against the "
            "first's, and the least-squares slope) and the fuzz bench's leak checks."
        ),
    )
    soak.add_argument("--minutes", type=float, default=60.0, help="length (default: 60)")
    soak.add_argument("--concurrency", type=_positive, default=100, help="at once (default: 100)")
    soak.add_argument("--warmup", type=float, default=300.0, help="seconds (default: 300)")
    soak.add_argument("--every", type=float, default=30.0, help="sample period s (default: 30)")
    soak.add_argument("--seed", type=int, default=1, help="seed (default: 1)")
    soak.add_argument("--json", action="store_true", help="one JSON object per line")
    soak.add_argument("--workdir", type=Path, default=None, help="keep callflow's log, store")
    soak.set_defaults(func=_run_soak)

    load = kinds.add_parser(
        "load",
        help="concurrent waiting callers: callflow vs app_queue vs a minimal app (needs root)",
        description=(
            "A second sandbox Asterisk places N concurrent calls (ulaw, RTP both ways) into a "
            "queue nobody serves (music, position and wait every 30 s, a periodic prompt), "
            "for callflow, Asterisk's app_queue and a minimal holding app in turn; per step: "
            "calls up, CPU of each process, RTP loss, kernel UDP drops, event -> command "
            "latency, callflow's RSS, errors."
        ),
    )
    load.add_argument(
        "--steps",
        type=_team_sizes,
        default=DEFAULT_STEPS,
        help="concurrent calls per step, comma-separated (default: 100,200,300,400,500)",
    )
    load.add_argument(
        "--systems",
        type=_systems,
        default=tuple(SYSTEMS),
        help="comma-separated, of callflow,app_queue,minimal (default: all three)",
    )
    load.add_argument(
        "--hold", type=float, default=75.0, help="seconds each step is held (default: 75)"
    )
    load.add_argument(
        "--rate", type=float, default=20.0, help="calls set up a second (default: 20)"
    )
    load.add_argument("--json", action="store_true", help="one JSON object per line")
    load.set_defaults(func=_run_load)

    faults = kinds.add_parser(
        "faults",
        help="Asterisk restarted under load, the store's disk full or read-only, ARI 5xx/slow",
        description="Run the real-call fault tests (tests/integration/test_faults.py, needs "
        "root and a checkout) and print the figures they measured and checked.",
    )
    faults.add_argument("--only", choices=sorted(ONLY), help="one family of faults")
    faults.add_argument("--json", action="store_true", help="one JSON object per line")
    faults.set_defaults(func=lambda args: run_faults_bench(only=args.only, as_json=args.json))


def _run_ewt(args: argparse.Namespace) -> int:
    return run_ewt_bench(
        as_json=args.json,
        quick=args.quick,
        seed=args.seed,
        jobs=args.jobs,
        only=args.only,
        callers=args.callers,
    )


def _run_dialer(args: argparse.Namespace) -> int:
    if args.live:
        from callflow.bench.dialer_live import run_dialer_live_bench

        return run_dialer_live_bench(
            as_json=args.json, seeds=args.seeds, seed=args.seed, history=args.history
        )
    if args.oracle:
        return run_oracle_bench(
            as_json=args.json, seeds=args.seeds, agents=args.agents, seed=args.seed, only=args.only
        )
    return run_dialer_bench(
        as_json=args.json,
        seeds=args.seeds,
        agents=args.agents,
        jobs=args.jobs,
        only=args.only,
        seed=args.seed,
    )


def _run_fuzz(args: argparse.Namespace) -> int:
    return run_fuzz_bench(
        calls=args.calls,
        concurrency=args.concurrency,
        seed=args.seed,
        as_json=args.json,
        longest=args.longest,
        rate=args.rate,
        store=args.store,
        workdir=args.workdir,
    )


def _run_soak(args: argparse.Namespace) -> int:
    return run_soak_bench(
        minutes=args.minutes,
        concurrency=args.concurrency,
        warmup=args.warmup,
        every=args.every,
        seed=args.seed,
        as_json=args.json,
        workdir=args.workdir,
    )


def _team_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError("team sizes are whole numbers, e.g. 5,10,20") from exc
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("every team size is at least 1")
    return sizes


def _systems(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(","))
    unknown = [name for name in names if name not in SYSTEMS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"systems are {', '.join(SYSTEMS)}; not {unknown}")
    return names


def _run_load(args: argparse.Namespace) -> int:
    return run_load_bench(
        systems=args.systems,
        steps=args.steps,
        hold=args.hold,
        rate=args.rate,
        as_json=args.json,
    )


def _run_connect(args: argparse.Namespace) -> int:
    return run_connect_bench(
        calls=args.calls,
        as_json=args.json,
        keep=args.keep,
        parallel=args.parallel,
        ring=args.ring,
    )


def _run_reload(args: argparse.Namespace) -> int:
    return run_reload_bench(nodes=args.nodes, repeat=args.repeat, as_json=args.json)


def _run_callback(args: argparse.Namespace) -> int:
    return run_callback_bench(as_json=args.json, seed=args.seed, quick=args.quick)


def _run_store(args: argparse.Namespace) -> int:
    return run_store_bench(
        quick=args.quick, as_json=args.json, folder=args.dir, postgresql=args.postgresql
    )


def _history(text: str) -> tuple[int, int]:
    try:
        live, abandoned = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not LIVE,ABANDONED (two whole numbers): {text!r}"
        ) from None
    try:
        return check_history((live, abandoned))
    except ValueError:
        raise argparse.ArgumentTypeError(f"needs 0 <= ABANDONED <= LIVE: {text!r}") from None


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value
