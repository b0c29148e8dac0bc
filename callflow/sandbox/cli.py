"""`callflow sandbox up|down|status|provision|rx`: the sandbox Asterisk from the shell."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from callflow.sandbox.instance import (
    Sandbox,
    SandboxError,
    SandboxInfo,
    default_phones,
    render_config,
    rx,
)
from callflow.sandbox.pstn import NUMBERS_FILE, connect, pstn_name, read_plan, start_pstn
from callflow.sandbox.rootfs import RootfsError, provision_rootfs, rootfs_path


def add_commands(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``callflow sandbox ...``."""
    parser = subparsers.add_parser("sandbox", help="a real Asterisk 22 on loopback (needs root)")
    sub = parser.add_subparsers(dest="sandbox_command", metavar="ACTION", required=True)

    up = sub.add_parser("up", help="provision if needed and start Asterisk")
    up.add_argument("--name", default="default")
    up.add_argument("--app", default="callflow", help="ARI application name")
    up.add_argument("--http-port", type=int, default=0, help="ARI/HTTP port (0: a free one)")
    up.add_argument("--sip-port", type=int, default=0, help="SIP UDP port (0: a free one)")
    up.add_argument(
        "--password",
        default=None,
        help="a fixed ARI password (default: a fresh random one), e.g. to restart on the same "
        "ports and password after 'down'",
    )
    up.add_argument(
        "--pstn",
        action="store_true",
        help="also start a second Asterisk playing the public network (<name>-pstn), joined "
        "by the trunk 'pstn': dial PJSIP/+15550100200@pstn",
    )
    up.add_argument(
        "--pstn-numbers",
        type=Path,
        default=NUMBERS_FILE,
        help="the PSTN's numbers and customer phones (default: docker/asterisk/pstn/numbers.yaml)",
    )
    up.add_argument("--json", action="store_true", help="print the sandbox as JSON")
    up.set_defaults(func=_up)

    restart = sub.add_parser(
        "restart",
        help="kill Asterisk and start it again on the same ports and password (a crash)",
    )
    restart.add_argument("--name", default="default")
    restart.add_argument(
        "--graceful", action="store_true", help="stop with SIGTERM instead of SIGKILL"
    )
    restart.add_argument("--json", action="store_true", help="print the sandbox as JSON")
    restart.set_defaults(func=_restart)

    down = sub.add_parser("down", help="stop Asterisk (and its PSTN) and unmount")
    down.add_argument("--name", default="default")
    down.set_defaults(func=_down)

    status = sub.add_parser("status", help="is it running, and where")
    status.add_argument("--name", default="default")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=_status)

    provision = sub.add_parser("provision", help="build the Debian sid rootfs (cached)")
    provision.set_defaults(func=_provision)

    render = sub.add_parser(
        "render", help="write the Asterisk config folder only (for the Docker image)"
    )
    render.add_argument("--out", type=Path, required=True, help="folder to write")
    render.add_argument("--etc-dir", default="/etc/asterisk", help="the folder in the image")
    render.add_argument("--state-dir", default="/var/lib/callflow-asterisk")
    render.add_argument("--http-bind", default="127.0.0.1", help="ARI/HTTP address")
    # A container's SIP address, on purpose (the sandbox itself binds loopback only).
    render.add_argument("--sip-bind", default="0.0.0.0", help="SIP address")  # noqa: S104
    render.add_argument("--http-port", type=int, default=8088)
    render.add_argument("--sip-port", type=int, default=5060)
    render.add_argument("--rtp", default="10000-10199", help="RTP port range START-END")
    render.add_argument("--app", default="callflow")
    render.add_argument(
        "--ari-password",
        default="${ARI_PASSWORD}",
        help="literal password, or a ${VAR} the container fills in at start",
    )
    render.set_defaults(func=_render)

    cli = sub.add_parser("rx", help="run an Asterisk CLI command in the sandbox")
    cli.add_argument("--name", default="default")
    cli.add_argument("cli_command", help='e.g. "pjsip show endpoints"')
    cli.set_defaults(func=_rx)


def _describe(info_json: dict[str, object]) -> str:
    phones = info_json.get("phones", [])
    lines = [
        f"sandbox {info_json['name']}: Asterisk pid {info_json['pid']}",
        f"  ARI      http://{info_json['bind']}:{info_json['http_port']}  "
        f"user {info_json['ari_user']}  app {info_json['app']}",
        f"  SIP      udp {info_json['bind']}:{info_json['sip_port']}",
        f"  RTP      {info_json['rtp_start']}-{info_json['rtp_end']}",
        f"  log      {info_json['home']}/state/log/messages.log",
    ]
    if isinstance(phones, list):
        for p in phones:
            if isinstance(p, dict) and p.get("name") == "softphone":
                lines.append(
                    f"  phone    user {p['name']} password {p['password']} "
                    f"at {info_json['bind']}:{info_json['sip_port']} (dial 100 or 700)"
                )
    return "\n".join(lines)


def _describe_pstn(info: SandboxInfo) -> str:
    lines = [
        f"PSTN {info.name}: Asterisk pid {info.pid}, SIP udp {info.bind}:{info.sip_port}, "
        "joined by the trunk 'pstn' (dial PJSIP/+1555010RRTT@pstn; see README)",
        f"  log      {info.log_file}",
    ]
    for p in info.phones:
        lines.append(
            f"  customer user {p['name']} password {p['password']} number {p['caller_id']} "
            f"at {info.bind}:{info.sip_port} (dial 100 for the contact center)"
        )
    return "\n".join(lines)


def _up(args: argparse.Namespace) -> int:
    sandbox = Sandbox(
        args.name,
        app=args.app,
        http_port=args.http_port,
        sip_port=args.sip_port,
        password=args.password,
    )
    pstn: SandboxInfo | None = None
    try:
        plan = read_plan(args.pstn_numbers) if args.pstn else None
        info = sandbox.up()
        if plan is not None:
            try:
                pstn = start_pstn(args.name, plan).info
                assert pstn is not None
                connect(info, pstn)
            except BaseException:
                _stop_pstn(args.name)
                sandbox.down()
                raise
    except (SandboxError, RootfsError) as exc:
        print(f"callflow sandbox: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(_with_pstn(info, pstn)))
    else:
        print(_describe(asdict(info)) + ("\n" + _describe_pstn(pstn) if pstn else ""))
    return 0


def _with_pstn(info: SandboxInfo, pstn: SandboxInfo | None) -> dict[str, object]:
    """The sandbox as JSON; its PSTN under ``pstn`` when it has one."""
    return {**asdict(info), "pstn": asdict(pstn)} if pstn else asdict(info)


def _stop_pstn(name: str) -> SandboxInfo | None:
    """Stop the PSTN of sandbox ``name`` if it runs; what it was, or None."""
    info = Sandbox.load(pstn_name(name))
    if info is not None:
        Sandbox(info.name).down()
    return info


def _restart(args: argparse.Namespace) -> int:
    try:
        info = Sandbox(args.name).restart(crash=not args.graceful)
    except SandboxError as exc:
        print(f"callflow sandbox: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(info)) if args.json else _describe(asdict(info)))
    return 0


def _down(args: argparse.Namespace) -> int:
    pstn = _stop_pstn(args.name)
    if pstn is not None:
        print(f"PSTN {pstn.name} stopped (pid {pstn.pid})")
    info = Sandbox.load(args.name)
    if info is None:
        print(f"sandbox {args.name} is not running")
        return 0
    Sandbox(args.name).down()
    print(f"sandbox {args.name} stopped (pid {info.pid})")
    return 0


def _status(args: argparse.Namespace) -> int:
    info = Sandbox.load(args.name)
    if info is None:
        print(json.dumps(None) if args.json else f"sandbox {args.name} is not running")
        return 3
    pstn = Sandbox.load(pstn_name(args.name))
    if args.json:
        print(json.dumps(_with_pstn(info, pstn)))
    else:
        print(_describe(asdict(info)) + ("\n" + _describe_pstn(pstn) if pstn else ""))
    return 0


def _provision(args: argparse.Namespace) -> int:
    cached = rootfs_path().exists()
    started = time.monotonic()
    try:
        path = provision_rootfs()
    except RootfsError as exc:
        print(f"callflow sandbox: {exc}", file=sys.stderr)
        return 1
    state = "cached" if cached else "built"
    print(f"rootfs {state} in {time.monotonic() - started:.1f} s: {path}")
    return 0


def _render(args: argparse.Namespace) -> int:
    start, _, end = args.rtp.partition("-")
    values = {
        "ETC_DIR": args.etc_dir,
        "STATE_DIR": args.state_dir,
        "BIND_ADDR": args.http_bind,
        "SIP_BIND": args.sip_bind,
        "HTTP_PORT": str(args.http_port),
        "SIP_PORT": str(args.sip_port),
        "RTP_START": start,
        "RTP_END": end or start,
        "ARI_USER": "callflow",
        "ARI_PASSWORD": args.ari_password,
        "ARI_APP": args.app,
    }
    try:
        render_config(args.out, values, default_phones())
    except SandboxError as exc:
        print(f"callflow sandbox: {exc}", file=sys.stderr)
        return 1
    print(f"Asterisk config written to {args.out}")
    return 0


def _rx(args: argparse.Namespace) -> int:
    info = Sandbox.load(args.name)
    if info is None:
        print(f"callflow sandbox: sandbox {args.name} is not running", file=sys.stderr)
        return 1
    try:
        print(rx(info, args.cli_command), end="")
    except SandboxError as exc:
        print(f"callflow sandbox: {exc}", file=sys.stderr)
        return 1
    return 0
