"""Load and check callflow's settings file (YAML): where Asterisk is, which flows to run.

The file is read against :data:`SETTINGS_FILE` by the YAML checker flows and queues files
share (:mod:`callflow.yamlcheck`): every mistake is found in one pass, each at its
``file:line:column`` with the nearest valid word for a misspelt key, and
:data:`SETTINGS_FILE` is also the source of the JSON Schema
(``callflow schema --kind settings``).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from yaml.nodes import Node, ScalarNode

from callflow.api.settings import TOKEN_ENV, ApiSettings, token_problem
from callflow.app.service import ShutdownPolicy
from callflow.ari import AriConfig
from callflow.call.outbound import OutboundSettings, caller_id_problem, template_problem
from callflow.dialer.campaign import parse_campaign
from callflow.store import is_postgres
from callflow.yamlcheck import (
    AnyOf,
    Checker,
    Choice,
    Diagnostic,
    Integer,
    JSONSchema,
    Key,
    ListOf,
    Number,
    Section,
    Text,
    document_schema,
    nearest,
    read_file,
    value_of,
)


class SettingsError(Exception):
    """The settings file is missing or wrong; the message says where and why, one problem
    a line (``file:line:column: what``); ``diagnostics`` holds them as diagnostics."""

    def __init__(self, message: str, diagnostics: Sequence[Diagnostic] = ()) -> None:
        super().__init__(message)
        self.diagnostics = tuple(diagnostics)

    @classmethod
    def of(cls, diagnostics: Sequence[Diagnostic]) -> SettingsError:
        """One error listing every problem, one a line."""
        return cls("\n".join(d.line(severity=False) for d in diagnostics), diagnostics)


@dataclass(frozen=True)
class AriSettings:
    """How to reach Asterisk's ARI."""

    url: str = "http://127.0.0.1:8088"
    username: str = "callflow"
    password: str = field(default="", repr=False)
    app: str = "callflow"
    request_timeout: float = 10.0  # seconds one REST request may take (each retry too)
    reconcile_interval: float = 30.0  # seconds between channel reconciliations; 0: off


@dataclass(frozen=True)
class Settings:
    """Everything ``callflow run`` needs."""

    ari: AriSettings
    flows: tuple[Path, ...]
    store: Path = Path("var/callflow.sqlite3")
    store_url: str | None = None  # a PostgreSQL database instead of the SQLite file
    store_retention_days: float | None = None  # events older are pruned; None: kept for ever
    node: str = ""  # this callflow's name among several (ids in Asterisk, rows in the store)
    sounds_dir: Path | None = None  # Asterisk's sounds, as callflow sees them
    queues: Path | None = None  # agents and queues (callflow queues check)
    log_format: str = "text"
    log_level: str = "info"
    source: Path | None = None
    shutdown: ShutdownPolicy = field(default_factory=ShutdownPolicy)
    outbound: OutboundSettings = field(default_factory=OutboundSettings)
    api: ApiSettings | None = None  # the supervisor API, wallboard and /metrics; None: off
    campaigns: tuple[Path, ...] = ()  # outbound campaigns the app dials (callflow.dialer)

    @property
    def store_location(self) -> str:
        """What :func:`callflow.store.open_store` opens: the PostgreSQL URL, else the file."""
        return self.store_url or str(self.store)

    def ari_config(self, **overrides: float) -> AriConfig:
        """The ARI client's settings (``overrides``: its timeouts); SettingsError when there
        is no password or the values are not usable."""
        where = self.source or "the settings"
        if not self.ari.password:
            raise SettingsError(
                f"{where}: no ARI password (set ari.password, or the environment variable "
                "named by ari.password_env, CALLFLOW_ARI_PASSWORD by default)"
            )
        try:
            return AriConfig(
                base_url=self.ari.url,
                username=self.ari.username,
                password=self.ari.password,
                apps=(self.ari.app,),
                reconcile_interval=self.ari.reconcile_interval,
                **{"request_timeout": self.ari.request_timeout, **overrides},  # type: ignore[arg-type]
            )
        except ValueError as exc:
            raise SettingsError(f"{where}: the ARI settings are not usable: {exc}") from None


_MEDIA = ("sound:", "tone:", "digits:", "number:", "recording:")
_DIALPLAN_NAME = r"^[A-Za-z0-9_+*#\-]+$"
_ACTIONS = ("apologise", "dialplan")
_NODE_NAME = r"^[A-Za-z0-9_]{1,32}$"

# Every key of the file and what it means: the reader's vocabulary and the schema's.
ARI = Section(
    Key("url", Text(pattern=r"^https?://"), "ARI's base URL, e.g. http://127.0.0.1:8088."),
    Key("username", Text(), "The ARI user (ari.conf)."),
    Key("password", Text(), "The ARI password; better: password_env."),
    Key(
        "password_env",
        Text(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"),
        "The environment variable holding the password (default CALLFLOW_ARI_PASSWORD).",
    ),
    Key("app", Text(), "The Stasis application's name; must match the dialplan's CALLFLOW_APP."),
    Key(
        "request_timeout",
        Number(minimum=0.1, maximum=120, unit="seconds"),
        "Seconds one ARI request may take before it fails (default 10); reads and repeatable "
        "commands are tried up to 3 times.",
    ),
    Key(
        "reconcile_interval",
        Number(minimum=0, maximum=3600, unit="seconds"),
        "Seconds between two comparisons of the app's channels in Asterisk with the calls "
        "callflow knows: unknown ones are hung up, calls whose channel is gone ended "
        "(default 30; 0: never).",
    ),
)
LOG = Section(
    Key("format", Choice(("text", "json")), "text, or json: one object per line."),
    Key(
        "level",
        Choice(("debug", "info", "warning", "error", "critical")),
        "The least level logged.",
    ),
)
STORE = Section(
    Key("path", Text(), "The SQLite file (relative to this file)."),
    Key(
        "url",
        Text(),
        "A PostgreSQL database shared by several nodes (postgresql://user@host:port/dbname;"
        " the password in PGPASSWORD or ~/.pgpass), instead of the SQLite file.",
    ),
    Key(
        "retention_days",
        Number(minimum=1, maximum=36_500, unit="days"),
        "Events older than this many days are pruned (default: kept for ever).",
    ),
)
SHUTDOWN = Section(
    Key(
        "grace",
        Number(minimum=0, maximum=3600, unit="seconds"),
        "Seconds calls in progress may still run (default 5).",
    ),
    Key(
        "action",
        Choice(_ACTIONS),
        "apologise (play the prompt, hang up) or dialplan (back to the dialplan).",
    ),
    Key(
        "prompt",
        ListOf(Text(pattern="^(" + "|".join(_MEDIA) + ")"), single=True),
        "What apologise plays, e.g. [sound:sorry, sound:please-try-call-later].",
    ),
    Key("context", Text(pattern=_DIALPLAN_NAME), "Dialplan context for action: dialplan."),
    Key("extension", Text(pattern=_DIALPLAN_NAME), "Dialplan extension for action: dialplan."),
    Key("label", Text(pattern=_DIALPLAN_NAME), "Dialplan label for action: dialplan."),
)
OUTBOUND = Section(
    Key(
        "endpoint",
        Text(pattern=r"^[A-Za-z][A-Za-z0-9_]*/[^&,\s]*\{(number|digits)\}[^&,\s]*$"),
        "The dial template: {number} is the E.164 number (+ and digits), {digits} the same "
        "without +; default PJSIP/{number}@pstn.",
    ),
    Key("caller_id", Text(), "The caller ID presented: +15550100000 or Name <+15550100000>."),
    Key(
        "ring_timeout",
        Number(minimum=1, maximum=600, unit="seconds"),
        "Seconds an outbound call may ring before it counts as not answered (default 25).",
    ),
)
API = Section(
    Key("bind", Text(), "The address the API listens on (default 127.0.0.1: this machine only)."),
    Key("port", Integer(minimum=0), "The TCP port (default 8090; 0: any free port, logged)."),
    Key("token", Text(), "The token every request must carry; better: token_env."),
    Key(
        "token_env",
        Text(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$"),
        f"The environment variable holding the token (default {TOKEN_ENV}).",
    ),
)
SETTINGS_FILE = Section(
    Key("ari", ARI, "How to reach Asterisk's ARI."),
    Key("flows", ListOf(Text(), single=True), "Flow files to serve (relative to this file)."),
    Key("log", LOG, "Log format and level."),
    Key(
        "store",
        AnyOf((Text(), STORE)),
        "The event log: a SQLite file's path or a postgresql:// URL, or a section with path"
        " or url, and retention_days.",
    ),
    Key("sounds_dir", Text(), "Asterisk's sounds directory as callflow sees it."),
    Key("queues", Text(), "The agents and queues file (relative to this file)."),
    Key("shutdown", SHUTDOWN, "What callers still in a call get when callflow stops."),
    Key(
        "node",
        Text(pattern=_NODE_NAME),
        "This callflow's name among several (letters, digits, _): in every id it makes in "
        "Asterisk and every row it writes, so that nodes never take each other's for theirs.",
    ),
    Key("outbound", OUTBOUND, "How callflow dials out: the trunk's template, caller ID, ring."),
    Key(
        "api",
        API,
        "The supervisor HTTP API, the wallboard and /metrics (off without this section).",
    ),
    Key(
        "campaigns",
        ListOf(Text(), single=True),
        "Outbound campaign files the app dials (relative to this file); each needs the queues.",
    ),
)


def settings_schema() -> JSONSchema:
    """The JSON Schema (draft 2020-12) of a settings file, from the reader's own spec."""
    return document_schema(
        "settings",
        "callflow settings file",
        "Where Asterisk's ARI is, which flows and queues to serve, the store, logs, shutdown.",
        SETTINGS_FILE,
    )


DEFAULT_PATH = Path("config/callflow.yaml")


OK, REFUSED, UNAVAILABLE = 0, 1, 2
"""Exit codes of the commands that read or write a running callflow's store or ask the app
(``callbacks``, ``campaigns``, ``agents``, ``nodes``): done; refused (no such callback, an
agent's state that does not allow it); no settings, no store or no app to ask."""


def config_option() -> argparse.ArgumentParser:
    """A parent parser with ``--config FILE``: the settings file of the ``callflow run`` whose
    store a command reads or writes (``callflow callbacks``, ``campaigns``, ``agents``,
    ``nodes``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_PATH,
        metavar="FILE",
        help=f"the settings file 'callflow run' uses (default {DEFAULT_PATH})",
    )
    return parser


def load_settings(path: Path) -> Settings:
    """Read the settings file; SettingsError lists every mistake, one a line, each as
    ``file:line:column: what``."""
    if not path.exists():
        raise SettingsError(f"{path}: settings file not found")
    settings, diagnostics = read_settings(path)
    errors = [d for d in diagnostics if d.is_error]
    if settings is None or errors:
        raise SettingsError.of(errors)
    return settings


def read_settings(path: Path) -> tuple[Settings | None, list[Diagnostic]]:
    """Read the settings file into Settings (None when there is any error) and every
    problem found, errors first (a file that cannot be read is one of them)."""
    source = read_file(str(path), "settings")
    r = Checker(source.path, list(source.diagnostics))
    if source.root is None:
        return None, r.sorted()
    top = r.section(source.root, SETTINGS_FILE, "the top level", at=source.root)
    s = r.scalars(top, SETTINGS_FILE, lambda k: k)
    ari = _ari(r, top["ari"]) if "ari" in top else AriSettings()
    flows = [file for file, _ in _files(r, top, "flows", path.parent)]
    log: dict[str, object] = {}
    if "log" in top:
        log = r.scalars(
            r.section(top["log"], LOG, "'log'", at=top["log"]), LOG, lambda k: f"log.{k}"
        )
    store, url, retention = (
        _store(r, top["store"]) if "store" in top else (Settings.store, None, None)
    )
    if not store.is_absolute():
        store = (path.parent / store).resolve()
    sounds_dir = (path.parent / str(s["sounds_dir"])).resolve() if "sounds_dir" in s else None
    queues = (path.parent / str(s["queues"])).resolve() if "queues" in s else None
    shutdown = _shutdown(r, top["shutdown"]) if "shutdown" in top else ShutdownPolicy()
    outbound = _outbound(r, top["outbound"]) if "outbound" in top else OutboundSettings()
    api = _api(r, top["api"]) if "api" in top else None
    campaigns: list[Path] = []
    for campaign_path, at in _files(r, top, "campaigns", path.parent):
        campaigns.append(campaign_path)
        _campaign(r, campaign_path, at)
    if campaigns and queues is None:
        r.error(top["campaigns"], "campaigns need agents: set 'queues' too")
    node = str(s.get("node", ""))
    if "node" in s and not re.fullmatch(_NODE_NAME, node):
        r.error(top["node"], f"node must be 1 to 32 letters, digits or _, not '{node}'")
    diagnostics = r.sorted()
    if any(d.is_error for d in diagnostics):
        return None, diagnostics
    settings = Settings(
        shutdown=shutdown,
        outbound=outbound,
        api=api,
        campaigns=tuple(campaigns),
        queues=queues,
        ari=ari,
        flows=tuple(flows),
        store=store,
        store_url=url,
        store_retention_days=retention,
        node=node,
        sounds_dir=sounds_dir,
        log_format=value_of(log, "format", "text"),
        log_level=value_of(log, "level", "info"),
        source=path,
    )
    return settings, diagnostics


def _files(r: Checker, top: dict[str, Node], key: str, base: Path) -> list[tuple[Path, Node]]:
    """The files a list setting names (``flows``, ``campaigns``), relative to ``base``."""
    if key not in top:
        return []
    found: list[tuple[Path, Node]] = []
    for text, at in r.texts(top[key], f"an entry of {key}"):
        file = Path(text)
        found.append((file if file.is_absolute() else (base / file).resolve(), at))
    return found


def _campaign(r: Checker, path: Path, at: Node) -> None:
    """A campaign file's own problems, at its file:line:column (at ``at`` if unreadable)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        r.error(at, f"campaign file {path}: {exc.strerror or exc}")
        return
    r.diagnostics.extend(parse_campaign(str(path), text)[1])


def _ari(r: Checker, node: Node) -> AriSettings:
    """The ``ari:`` section; the password from the environment variable it names."""
    section = r.section(node, ARI, "'ari'", at=node)
    values: dict[str, Any] = r.scalars(section, ARI, lambda k: f"ari.{k}")
    url = values.get("url")
    if isinstance(url, str):
        if not url.startswith(("http://", "https://")):
            r.error(section["url"], "ari.url must start with http:// or https://")
        elif "@" in url.split("//", 1)[1].split("/", 1)[0]:
            r.error(
                section["url"],
                "ari.url must not hold credentials; use ari.username and ari.password "
                "(or password_env)",
            )
    env_name = values.pop("password_env", "CALLFLOW_ARI_PASSWORD")
    if env_name in os.environ:
        values["password"] = os.environ[env_name]
    return AriSettings(**values)


def _store(r: Checker, node: Node) -> tuple[Path, str | None, float | None]:
    """``store:``, either the SQLite file's path or a PostgreSQL URL, or a section: ``path``
    or ``url``, and ``retention_days`` (how many days of events to keep; the event log is
    kept whole without it)."""
    if isinstance(node, ScalarNode):
        text = r.text(node, "store") or ""
        if is_postgres(text):
            return Settings.store, text, None
        return Path(text or Settings.store), None, None
    section = r.section(node, STORE, "'store'", at=node)
    values = r.scalars(section, STORE, lambda k: f"store.{k}")
    where = Path(str(values["path"])) if "path" in values else Settings.store
    url = str(values["url"]) if "url" in values else None
    if url is not None and "path" in values:
        r.error(section["url"], "store: give 'path' (SQLite) or 'url' (PostgreSQL), not both")
    elif url is not None and not is_postgres(url):
        r.error(section["url"], f"store.url must be a postgresql:// URL, not '{url}'")
    retention = values.get("retention_days")
    return where, url, retention if isinstance(retention, float) else None


def _shutdown(r: Checker, node: Node) -> ShutdownPolicy:
    """The ``shutdown:`` section: what callers still in a call get when callflow stops."""
    values = r.section(node, SHUTDOWN, "'shutdown'", at=node)
    s = r.scalars(values, SHUTDOWN, lambda k: f"shutdown.{k}", skip=("action",))
    policy = ShutdownPolicy()
    if "grace" in s:
        policy = replace(policy, grace=value_of(s, "grace", policy.grace))
    if "action" in values:
        action = r.text(values["action"], "shutdown.action")
        if action is not None and action not in _ACTIONS:
            r.error(
                values["action"],
                "shutdown.action must be 'apologise' (play the prompt, hang up) or 'dialplan'"
                f" (back to the dialplan), not '{action}'",
                nearest(action, _ACTIONS),
            )
        policy = replace(policy, action="dialplan" if action == "dialplan" else "apologise")
    if "prompt" in values:
        media = []
        for uri, item in r.texts(values["prompt"], "shutdown.prompt items"):
            if not uri.startswith(_MEDIA):
                r.error(item, f"shutdown.prompt items are media such as 'sound:sorry', not '{uri}'")
            media.append(uri)
        policy = replace(policy, media=tuple(media))
    names: dict[str, str] = {}
    for key in ("context", "extension", "label"):
        word = s.get(key)
        if isinstance(word, str) and not all(c.isalnum() or c in "_-+*#" for c in word):
            r.error(values[key], f"shutdown.{key} must be a plain dialplan name, not '{word}'")
        elif isinstance(word, str):
            names[key] = word
    return replace(
        policy,
        context=names.get("context", policy.context),
        extension=names.get("extension", policy.extension),
        label=names.get("label", policy.label),
    )


def _outbound(r: Checker, node: Node) -> OutboundSettings:
    """The ``outbound:`` section: the trunk's dial template, the caller ID and ring time."""
    values = r.section(node, OUTBOUND, "'outbound'", at=node)
    s = r.scalars(values, OUTBOUND, lambda k: f"outbound.{k}")
    default = OutboundSettings()
    endpoint = value_of(s, "endpoint", default.endpoint)
    caller_id = value_of(s, "caller_id", default.caller_id)
    problems = {"endpoint": template_problem(endpoint), "caller_id": caller_id_problem(caller_id)}
    for key, problem in problems.items():
        if problem is not None:
            r.error(values[key], f"outbound.{key}: {problem}, not '{s[key]}'")
    if any(problems.values()):
        return default
    ring = value_of(s, "ring_timeout", float(default.ring_timeout))
    return OutboundSettings(endpoint=endpoint, caller_id=caller_id, ring_timeout=round(ring))


def _api(r: Checker, node: Node) -> ApiSettings | None:
    """The ``api:`` section; the token from the environment variable it names."""
    values = r.section(node, API, "'api'", at=node)
    s = r.scalars(values, API, lambda k: f"api.{k}")
    port = s.get("port", ApiSettings.port)
    if isinstance(port, int) and port > 65_535:
        r.error(values["port"], f"api.port must be a TCP port (0 to 65535), not {port}")
        return None
    env_name = str(s.get("token_env", TOKEN_ENV))
    token = os.environ.get(env_name, str(s.get("token", "")))
    problem = token_problem(token)
    if problem is not None:
        r.error(values.get("token", node), problem)
        return None
    bind = str(s.get("bind", ApiSettings.bind))
    return ApiSettings(bind=bind, port=int(port) if isinstance(port, int) else 0, token=token)
