"""Load and check callflow's settings file (YAML): where Asterisk is, which flows to run."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from callflow.app.service import ShutdownPolicy
from callflow.ari import AriConfig


class SettingsError(Exception):
    """The settings file is missing or wrong; the message says where and why."""


@dataclass(frozen=True)
class AriSettings:
    """How to reach Asterisk's ARI."""

    url: str = "http://127.0.0.1:8088"
    username: str = "callflow"
    password: str = field(default="", repr=False)
    app: str = "callflow"


@dataclass(frozen=True)
class Settings:
    """Everything ``callflow run`` needs."""

    ari: AriSettings
    flows: tuple[Path, ...]
    store: Path = Path("var/callflow.sqlite3")
    store_retention_days: float | None = None  # events older are pruned; None: kept for ever
    sounds_dir: Path | None = None  # Asterisk's sounds, as callflow sees them
    queues: Path | None = None  # agents and queues (callflow queues check)
    log_format: str = "text"
    log_level: str = "info"
    source: Path | None = None
    shutdown: ShutdownPolicy = field(default_factory=ShutdownPolicy)

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
                **overrides,  # type: ignore[arg-type]
            )
        except ValueError as exc:
            raise SettingsError(f"{where}: the ARI settings are not usable: {exc}") from None


_TOP_KEYS = {"ari", "flows", "log", "store", "sounds_dir", "queues", "shutdown"}
_SHUTDOWN_KEYS = {"grace", "action", "prompt", "context", "extension", "label"}
_ARI_KEYS = {"url", "username", "password", "password_env", "app"}
_LOG_KEYS = {"format", "level"}
_STORE_KEYS = {"path", "retention_days"}


def _where(path: Path, node: yaml.Node | None) -> str:
    if node is None:
        return str(path)
    return f"{path}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"


def _mapping(path: Path, node: yaml.Node, what: str, allowed: set[str]) -> dict[str, yaml.Node]:
    if not isinstance(node, yaml.MappingNode):
        raise SettingsError(f"{_where(path, node)}: {what} must be a mapping")
    out: dict[str, yaml.Node] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        if key not in allowed:
            import difflib

            near = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise SettingsError(
                f"{_where(path, key_node)}: unknown key {key!r} in {what} "
                f"(expected one of: {', '.join(sorted(allowed))}){hint}"
            )
        if key in out:
            raise SettingsError(f"{_where(path, key_node)}: duplicate key {key!r} in {what}")
        out[key] = value_node
    return out


def _scalar(path: Path, node: yaml.Node, what: str) -> str:
    if not isinstance(node, yaml.ScalarNode):
        raise SettingsError(f"{_where(path, node)}: {what} must be a single value")
    return str(node.value)


def load_settings(path: Path) -> Settings:
    """Read the settings file; every mistake is reported as ``file:line:column: what``."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise SettingsError(f"{path}: settings file not found") from None
    except OSError as exc:
        raise SettingsError(f"{path}: cannot read settings file: {exc.strerror}") from None
    try:
        root = yaml.compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
        raise SettingsError(f"{where}: invalid YAML: {exc.problem}") from None
    if root is None:
        raise SettingsError(f"{path}: settings file is empty")
    top = _mapping(path, root, "the settings", _TOP_KEYS)
    ari_values: dict[str, Any] = {}
    if "ari" in top:
        ari = _mapping(path, top["ari"], "'ari'", _ARI_KEYS)
        for key, node in ari.items():
            ari_values[key] = _scalar(path, node, f"ari.{key}")
        url = ari_values.get("url", AriSettings.url)
        if not url.startswith(("http://", "https://")):
            raise SettingsError(
                f"{_where(path, ari.get('url'))}: ari.url must start with http:// or https://"
            )
        if "@" in url.split("//", 1)[1].split("/", 1)[0]:
            raise SettingsError(
                f"{_where(path, ari.get('url'))}: ari.url must not hold credentials; "
                "use ari.username and ari.password (or password_env)"
            )
    env_name = ari_values.pop("password_env", "CALLFLOW_ARI_PASSWORD")
    if env_name in os.environ:
        ari_values["password"] = os.environ[env_name]
    flows: list[Path] = []
    if "flows" in top:
        node = top["flows"]
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for item in items:
            flow_path = Path(_scalar(path, item, "flows entry"))
            if not flow_path.is_absolute():
                flow_path = (path.parent / flow_path).resolve()
            flows.append(flow_path)
    log_values: dict[str, str] = {}
    if "log" in top:
        for key, node in _mapping(path, top["log"], "'log'", _LOG_KEYS).items():
            log_values[key] = _scalar(path, node, f"log.{key}")
        if log_values.get("format", "text") not in ("text", "json"):
            raise SettingsError(f"{path}: log.format must be 'text' or 'json'")
    store, retention = _store(path, top["store"]) if "store" in top else (Settings.store, None)
    if not store.is_absolute():
        store = (path.parent / store).resolve()
    sounds_dir = None
    if "sounds_dir" in top:
        sounds_dir = (path.parent / _scalar(path, top["sounds_dir"], "sounds_dir")).resolve()
    queues = None
    if "queues" in top:
        queues = (path.parent / _scalar(path, top["queues"], "queues")).resolve()
    shutdown = _shutdown(path, top["shutdown"]) if "shutdown" in top else ShutdownPolicy()
    return Settings(
        shutdown=shutdown,
        queues=queues,
        ari=AriSettings(**ari_values),
        flows=tuple(flows),
        store=store,
        store_retention_days=retention,
        sounds_dir=sounds_dir,
        log_format=log_values.get("format", "text"),
        log_level=log_values.get("level", "info"),
        source=path,
    )


def _store(path: Path, node: yaml.Node) -> tuple[Path, float | None]:
    """``store:``, either the file's path or a section: ``path`` and ``retention_days`` (how
    many days of events to keep; the event log is kept whole without it)."""
    if isinstance(node, yaml.ScalarNode):
        return Path(_scalar(path, node, "store")), None
    values = _mapping(path, node, "'store'", _STORE_KEYS)
    where = Path(_scalar(path, values["path"], "store.path")) if "path" in values else None
    retention = None
    if "retention_days" in values:
        days = values["retention_days"]
        retention = _number(path, days, "store.retention_days", "days", 1, 36_500)
    return where or Settings.store, retention


def _number(path: Path, node: yaml.Node, what: str, unit: str, low: float, high: float) -> float:
    """A number of ``unit`` (seconds, days) from ``low`` to ``high``."""
    text = _scalar(path, node, what)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        raise SettingsError(
            f"{_where(path, node)}: {what} must be a number of {unit} from {low:g} to "
            f"{high:g}, not {text!r}"
        )
    return value


def _shutdown(path: Path, node: yaml.Node) -> ShutdownPolicy:
    """The ``shutdown:`` section: what callers still in a call get when callflow stops."""
    values = _mapping(path, node, "'shutdown'", _SHUTDOWN_KEYS)
    policy = ShutdownPolicy()
    if "grace" in values:
        grace = _number(path, values["grace"], "shutdown.grace", "seconds", 0, 3600)
        policy = replace(policy, grace=grace)
    if "action" in values:
        action = _scalar(path, values["action"], "shutdown.action")
        if action not in ("apologise", "dialplan"):
            raise SettingsError(
                f"{_where(path, values['action'])}: shutdown.action must be 'apologise' "
                f"(play the prompt, hang up) or 'dialplan' (back to the dialplan), not {action!r}"
            )
        policy = replace(policy, action="dialplan" if action == "dialplan" else "apologise")
    if "prompt" in values:
        prompt = values["prompt"]
        items = prompt.value if isinstance(prompt, yaml.SequenceNode) else [prompt]
        media = []
        for item in items:
            uri = _scalar(path, item, "shutdown.prompt item")
            if not uri.startswith(("sound:", "tone:", "digits:", "number:", "recording:")):
                raise SettingsError(
                    f"{_where(path, item)}: shutdown.prompt items are media such as "
                    f"'sound:sorry', not {uri!r}"
                )
            media.append(uri)
        policy = replace(policy, media=tuple(media))
    names: dict[str, str] = {}
    for key in ("context", "extension", "label"):
        if key in values:
            word = _scalar(path, values[key], f"shutdown.{key}")
            if not word or not all(c.isalnum() or c in "_-+*#" for c in word):
                raise SettingsError(
                    f"{_where(path, values[key])}: shutdown.{key} must be a plain dialplan "
                    f"name, not {word!r}"
                )
            names[key] = word
    return replace(
        policy,
        context=names.get("context", policy.context),
        extension=names.get("extension", policy.extension),
        label=names.get("label", policy.label),
    )
