"""Campaigns: a campaign's YAML file and its CSV leads, checked before anything is dialed.

Pure: text in, a :class:`Campaign` (or :class:`Lead` rows) and diagnostics out. Every problem
is reported at once, at ``file:line:column`` (the YAML through :mod:`callflow.yamlcheck`, so
a misspelt key gets the nearest valid one; a CSV row at its line), and nothing is silently
dropped: a bad lead row is an error naming its line and column, and the rows that are fine
are still returned.

A campaign file::

    name: renewals
    dial_mode: predictive          # preview, progressive, ratio, predictive
    ratio: 1.5                     # lines per agent, for dial_mode: ratio
    abandonment:
      cap: 3                       # percent of live calls (default 3)
      windows: [us-30d, uk-24h]    # default both
      amd_false_positive: 1        # percent of "machine" verdicts estimated to be people
      margin: 0.5                  # percent under the cap the predictive dialer aims at
    calling_hours: {start: "08:00", end: "21:00"}   # at the lead's local time (default)
    ring_at_least: 15s             # never less than 15 s (FTC, Ofcom)
    max_attempts: 5
    retry: {no_answer: 2h, busy: 10m, machine: 4h, abandoned: 72h}
    agents: [alice, bob]
    queues: [sales]
    safe_harbor:                   # what a person hears when no agent comes within 2 s
      - say: "This was Acme calling. Call us back on 0800 123 456. To opt out, press 9."
    machine_message: [{sound: custom/acme-message}]   # left on machines; none: hang up
    do_not_call: dnc.txt           # numbers never called, one a line (checked at dial time)
    blend:                         # agents who also serve inbound queues (callflow.dialer.blend)
      service_level: 80            # percent of inbound callers answered within the queue's
                                   # service_level seconds: idle agents are held back for it
                                   # (no blend: only callers waiting come first)
      window: 15m                  # arrivals counted over this long
      handle_time: 5m              # an inbound call's handle time until some are seen
    preview:                       # dial_mode: preview: the agent sees the lead first
      timeout: 20s                 # then, with no accept nor skip (default: wait for one)
      on_timeout: skip             # dial, or skip (default)
    leads:
      number: phone                # the CSV column holding the number
      timezone: tz                 # a column with an IANA zone; or default_timezone
      default_timezone: America/New_York
      fields: [first_name, account]  # columns shown on the agent's screen

Lead numbers are read by :func:`callflow.callback.number.normalise` (E.164, numbering
plans, emergency and premium numbers refused). A number appearing twice in one file is a
warning and the later row wins: a lead is its number, so a re-import updates it.
"""

from __future__ import annotations

import csv
import io
import re
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from yaml.nodes import MappingNode, Node, SequenceNode

from callflow.callback.number import DEFAULT_RULES, NumberRules, Refused, normalise
from callflow.dialer.window import WindowKind
from callflow.flow.model import Say, Sound
from callflow.queue.model import QueueCenter
from callflow.yamlcheck import (
    Checker,
    Choice,
    Diagnostic,
    Duration,
    Integer,
    JSONSchema,
    Key,
    ListOf,
    Location,
    MapOf,
    Number,
    Section,
    Text,
    document_schema,
    nearest,
    read_source,
)

DialMode = Literal["preview", "progressive", "ratio", "predictive"]
DIAL_MODES: tuple[DialMode, ...] = ("preview", "progressive", "ratio", "predictive")
WINDOWS: tuple[WindowKind, ...] = ("us-30d", "uk-24h")
RETRY_OUTCOMES = ("no_answer", "busy", "machine", "abandoned", "lost", "skipped")
ON_TIMEOUT = ("dial", "skip")
#: The least ring time the FTC (15 s or four rings) and Ofcom (15 s) allow.
MIN_RING = 15.0
_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_SOUND = re.compile(r"[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-.]+)*")

ABANDONMENT = Section(
    Key("cap", Number(above=0, maximum=100, unit="percent"), "Most abandons per live call."),
    Key("windows", ListOf(Choice(WINDOWS), single=True), "The legal windows: us-30d, uk-24h."),
    Key(
        "amd_false_positive",
        Number(minimum=0, maximum=100, unit="percent"),
        "Estimated share of 'machine' verdicts that were people (counted as abandons, UK).",
    ),
    Key(
        "margin",
        Number(minimum=0, maximum=100, unit="percent"),
        "How far under the cap the predictive dialer aims.",
    ),
)
CALLING_HOURS = Section(
    Key("start", Text(pattern=_CLOCK.pattern), "First call, HH:MM at the lead's local time."),
    Key("end", Text(pattern=_CLOCK.pattern), "No call from this HH:MM on."),
)
LEADS = Section(
    Key("number", Text(), "The CSV column holding the number.", True),
    Key("timezone", Text(), "A CSV column holding the lead's IANA time zone."),
    Key("default_timezone", Text(), "The zone of leads without one."),
    Key("fields", ListOf(Text()), "CSV columns shown on the agent's screen."),
)
PROMPT_ITEM = Section(
    Key("sound", Text(), "A recorded sound, as Asterisk names it (custom/acme-message)."),
    Key("say", Text(), "Text, rendered by callflow prompts build."),
)
BLEND = Section(
    Key(
        "service_level",
        Number(above=0, maximum=99.9, unit="percent"),
        "Inbound callers to answer within their queue's service_level: the hold-back's goal.",
    ),
    Key("window", Duration(zero=False), "Inbound arrivals are counted over this long."),
    Key("handle_time", Duration(zero=False), "Inbound handle time assumed until calls are seen."),
)
PREVIEW = Section(
    Key("timeout", Duration(zero=False), "How long a lead is shown before on_timeout acts."),
    Key("on_timeout", Choice(ON_TIMEOUT), "dial or skip the lead shown past the timeout."),
)
CAMPAIGN_FILE = Section(
    Key("name", Text(), "The campaign's name.", True),
    Key("dial_mode", Choice(DIAL_MODES), "preview, progressive, ratio or predictive.", True),
    Key("ratio", Number(minimum=1, maximum=10), "Lines per agent, for dial_mode: ratio."),
    Key("abandonment", ABANDONMENT, "The abandonment rule: cap, windows, AMD, margin."),
    Key("calling_hours", CALLING_HOURS, "When leads may be called, at their local time."),
    Key("ring_at_least", Duration(zero=False), "Least ring time (15 s or more)."),
    Key("max_attempts", Integer(minimum=1), "Most calls to one lead."),
    Key("retry", MapOf(Duration()), "Delay before calling again, per outcome."),
    Key("agents", ListOf(Text()), "Agents who work the campaign."),
    Key("queues", ListOf(Text()), "Queues whose agents work the campaign."),
    Key("leads", LEADS, "How to read the leads' CSV."),
    Key(
        "safe_harbor",
        ListOf(PROMPT_ITEM, single=True),
        "What a person hears when no agent is free: who called, a number, how to opt out.",
    ),
    Key(
        "machine_message",
        ListOf(PROMPT_ITEM, single=True),
        "The message left on answering machines (none: hang up).",
    ),
    Key("do_not_call", Text(), "A file of numbers never to call, one a line."),
    Key("blend", BLEND, "Agents of inbound queues: how many idle ones the dialer leaves them."),
    Key("preview", PREVIEW, "dial_mode: preview: how long a lead is shown, and then what."),
)
CampaignPrompt = tuple[Sound | Say, ...]


@dataclass(frozen=True, slots=True)
class AbandonRule:
    """A campaign's abandonment rule (shares, not percent)."""

    cap: float = 0.03
    windows: tuple[WindowKind, ...] = WINDOWS
    amd_false_positive: float = 0.0
    margin: float = 0.005


@dataclass(frozen=True, slots=True)
class BlendRule:
    """How much of its agents' idle time a campaign leaves their inbound queues."""

    service_level: float | None = None  # a share; None: no hold-back (callers waiting first)
    window: float = 900.0
    handle_time: float = 300.0


@dataclass(frozen=True, slots=True)
class PreviewRule:
    """How long a previewed lead waits for its agent, and what then (``dial`` or ``skip``);
    no timeout: it waits for the agent's accept or skip."""

    timeout: float | None = None
    on_timeout: Literal["dial", "skip"] = "skip"


@dataclass(frozen=True, slots=True)
class LeadColumns:
    """Which CSV columns hold what."""

    number: str = "number"
    timezone: str | None = None
    default_timezone: str | None = None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Campaign:
    """A checked campaign."""

    name: str
    dial_mode: DialMode
    ratio: float = 1.0
    abandonment: AbandonRule = field(default_factory=AbandonRule)
    calling_hours: tuple[int, int] = (8 * 60, 21 * 60)  # minutes after local midnight
    ring_at_least: float = MIN_RING
    max_attempts: int = 3
    retry: Mapping[str, float] = field(default_factory=dict)
    agents: tuple[str, ...] = ()
    queues: tuple[str, ...] = ()
    leads: LeadColumns = field(default_factory=LeadColumns)
    path: str = ""
    safe_harbor: CampaignPrompt = ()
    machine_message: CampaignPrompt = ()
    do_not_call: str | None = None  # a path, relative to the campaign file's folder
    blend: BlendRule = field(default_factory=BlendRule)
    preview: PreviewRule = field(default_factory=PreviewRule)

    def say_texts(self, voice: str = "en-us") -> frozenset[tuple[str, str]]:
        """Every (text, voice) the campaign speaks, for the prompt-cache builder."""
        return frozenset(
            (p.text, p.voice or voice)
            for p in (*self.safe_harbor, *self.machine_message)
            if isinstance(p, Say)
        )


@dataclass(frozen=True, slots=True)
class Lead:
    """One lead: its E.164 number, time zone, the fields for the agent's screen, and the CSV
    line it came from."""

    number: str
    timezone: str | None
    fields: Mapping[str, str]
    line: int


def campaign_schema() -> JSONSchema:
    """The JSON Schema of a campaign file, from the same table the checker reads."""
    return document_schema(
        "campaign", "callflow campaign", "An outbound campaign of callflow.", CAMPAIGN_FILE
    )


def parse_campaign(
    path: str, text: str, center: QueueCenter | None = None
) -> tuple[Campaign | None, list[Diagnostic]]:
    """Read campaign YAML ``text`` (named ``path`` in diagnostics); None on any error.
    With the contact center's agents and queues (``center``), the ``agents`` and ``queues``
    the campaign names must be among them."""
    source = read_source(path, text, "campaign")
    r = Checker(source.path, list(source.diagnostics))
    if source.root is None:
        return None, r.sorted()
    top = r.section(source.root, CAMPAIGN_FILE, "the top level", at=source.root)
    values = r.scalars(top, CAMPAIGN_FILE, lambda k: f"'{k}'")
    rule = AbandonRule()
    if "abandonment" in top:
        node = top["abandonment"]
        a = r.section(node, ABANDONMENT, "'abandonment'", at=node)
        got = r.scalars(a, ABANDONMENT, lambda k: f"'abandonment.{k}'", skip=("windows",))
        windows = rule.windows
        if "windows" in a:
            what = "'abandonment.windows'"
            read = [r.choice(item, what, WINDOWS) for _, item in r.names(a["windows"], what)]
            windows = tuple(w for w in read if w is not None)  # type: ignore[misc]
        rule = AbandonRule(
            cap=float(got.get("cap", 3.0)) / 100.0,  # type: ignore[arg-type]
            windows=windows,
            amd_false_positive=float(got.get("amd_false_positive", 0.0)) / 100.0,  # type: ignore[arg-type]
            margin=float(got.get("margin", 0.5)) / 100.0,  # type: ignore[arg-type]
        )
        if rule.margin >= rule.cap and "margin" in a:
            r.error(a["margin"], "'abandonment.margin' must be less than the cap")
    hours = (8 * 60, 21 * 60)
    if "calling_hours" in top:
        node = top["calling_hours"]
        h = r.section(node, CALLING_HOURS, "'calling_hours'", at=node)
        minutes = []
        for name, default in (("start", hours[0]), ("end", hours[1])):
            minutes.append(default)
            if name in h:
                clock = r.text(h[name], f"'calling_hours.{name}'")
                match = _CLOCK.match(clock or "")
                if clock is not None and match is None:
                    r.error(h[name], f"'calling_hours.{name}' must be HH:MM, not '{clock}'")
                elif match is not None:
                    minutes[-1] = int(match.group(1)) * 60 + int(match.group(2))
        if minutes[0] >= minutes[1]:
            r.error(node, "'calling_hours' must end after they start")
        hours = (minutes[0], minutes[1])
    ring = values.get("ring_at_least", MIN_RING)
    if isinstance(ring, float) and ring < MIN_RING:
        r.error(top["ring_at_least"], f"'ring_at_least' must be at least {MIN_RING:g} s")
    retry: dict[str, float] = {}
    if "retry" in top:
        for key, value in r.named(top["retry"], "'retry'"):
            if key.value not in RETRY_OUTCOMES:
                r.choice(key, "an outcome in 'retry'", RETRY_OUTCOMES)
                continue
            delay = r.duration(value, f"'retry.{key.value}'")
            if delay is not None:
                retry[key.value] = delay
    if values.get("dial_mode") == "ratio" and "ratio" not in values and "ratio" not in top:
        r.error(top.get("dial_mode", source.root), "dial_mode: ratio needs a 'ratio'")
    leads = LeadColumns()
    if "leads" in top:
        node = top["leads"]
        lv = r.section(node, LEADS, "'leads'", at=node)
        got = r.scalars(lv, LEADS, lambda k: f"'leads.{k}'", skip=("fields",))
        zone = got.get("default_timezone")
        if isinstance(zone, str) and not _zone_exists(zone):
            r.error(lv["default_timezone"], f"unknown time zone '{zone}'")
        leads = LeadColumns(
            number=str(got.get("number", "number")),
            timezone=str(got["timezone"]) if "timezone" in got else None,
            default_timezone=str(zone) if isinstance(zone, str) else None,
            fields=tuple(t for t, _ in r.texts(lv["fields"], "'leads.fields'"))
            if "fields" in lv
            else (),
        )
    blend = BlendRule()
    if "blend" in top:
        node = top["blend"]
        got = r.scalars(r.section(node, BLEND, "'blend'", at=node), BLEND, lambda k: f"'blend.{k}'")
        # A blend: block without a goal holds back for the usual 80 %.
        blend = BlendRule(
            service_level=float(got.get("service_level", 80.0)) / 100.0,  # type: ignore[arg-type]
            window=float(got.get("window", blend.window)),  # type: ignore[arg-type]
            handle_time=float(got.get("handle_time", blend.handle_time)),  # type: ignore[arg-type]
        )
    preview = PreviewRule()
    if "preview" in top:
        node = top["preview"]
        got = r.scalars(
            r.section(node, PREVIEW, "'preview'", at=node), PREVIEW, lambda k: f"'preview.{k}'"
        )
        if values.get("dial_mode", "preview") != "preview":
            r.error(node, f"'preview' is for dial_mode: preview, not {values['dial_mode']}")
        timeout = got.get("timeout")
        preview = PreviewRule(
            timeout=float(timeout) if isinstance(timeout, int | float) else None,
            on_timeout="dial" if got.get("on_timeout") == "dial" else "skip",
        )
    names = {
        name: r.texts(top[name], f"'{name}'") if name in top else []
        for name in ("agents", "queues")
    }
    lists = {name: tuple(t for t, _ in found) for name, found in names.items()}
    if center is not None:
        for name, known in (("agents", center.agents), ("queues", center.queues)):
            for word, node in names[name]:
                if word not in known:
                    r.error(
                        node,
                        f"'{name}': no {name[:-1]} '{word}' in {center.path or 'the queues file'}",
                        nearest(word, list(known)),
                    )
    prompts = {
        name: _prompt(r, top[name], f"'{name}'") if name in top else ()
        for name in ("safe_harbor", "machine_message")
    }
    do_not_call = values.get("do_not_call")
    diagnostics = r.sorted()
    if any(d.is_error for d in diagnostics):
        return None, diagnostics
    campaign = Campaign(
        name=str(values["name"]),
        dial_mode=values["dial_mode"],  # type: ignore[arg-type]
        ratio=float(values.get("ratio", 1.0)),  # type: ignore[arg-type]
        abandonment=rule,
        calling_hours=hours,
        ring_at_least=float(ring),  # type: ignore[arg-type]
        max_attempts=int(values.get("max_attempts", 3)),  # type: ignore[call-overload]
        retry=retry,
        agents=lists["agents"],
        queues=lists["queues"],
        leads=leads,
        path=source.path,
        safe_harbor=prompts["safe_harbor"],
        machine_message=prompts["machine_message"],
        do_not_call=str(do_not_call) if do_not_call is not None else None,
        blend=blend,
        preview=preview,
    )
    return campaign, diagnostics


def _prompt(r: Checker, node: Node, what: str) -> CampaignPrompt:
    """A prompt: one ``{sound: ...}`` or ``{say: ...}`` item, or a list of them."""
    items = node.value if isinstance(node, SequenceNode) else [node]
    found: list[Sound | Say] = []
    for item in items:
        got = r.section(item, PROMPT_ITEM, what, at=item)
        if len(got) != 1:
            if got:
                r.error(item, f"each item of {what} is one sound: or say:, not both")
            elif isinstance(item, MappingNode) and not item.value:
                r.error(item, f"each item of {what} needs a sound: or a say:")
            continue
        [(kind, value)] = got.items()
        text = r.text(value, f"{what} {kind}")
        if text is None:
            continue
        if kind == "sound" and not _SOUND.fullmatch(text):
            r.error(value, f"{what}: '{text}' is not a sound name (letters, digits, _ - . /)")
            continue
        found.append(Sound(text) if kind == "sound" else Say(text))
    return tuple(found)


def _zone_exists(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def parse_leads(
    path: str, text: str, columns: LeadColumns, rules: NumberRules = DEFAULT_RULES
) -> tuple[list[Lead], list[Diagnostic]]:
    """Read a leads CSV (header row first): the good rows as :class:`Lead`, and a
    diagnostic for every bad one at ``path:line:column`` (the column counts CSV fields)."""
    r = Checker(path)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        r.error(Location(path, 1, 1), "the leads file is empty (expected a header row)")
        return [], r.sorted()
    except csv.Error as exc:
        r.error(Location(path, 1, 1), f"unreadable CSV: {exc}")
        return [], r.sorted()
    index = {name.strip(): i for i, name in enumerate(header)}
    wanted = [columns.number, *columns.fields]
    if columns.timezone is not None:
        wanted.append(columns.timezone)
    missing = [name for name in wanted if name not in index]
    for name in missing:
        r.error(
            Location(path, 1, 1),
            f"no column '{name}' in the header (columns: {', '.join(index)})",
        )
    if missing:
        return [], r.sorted()
    leads: dict[str, Lead] = {}
    first_line: dict[str, int] = {}
    line = reader.line_num + 1
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            r.error(Location(path, reader.line_num, 1), f"unreadable CSV row: {exc}")
            break
        start, line = line, reader.line_num + 1
        if not any(cell.strip() for cell in row):
            continue
        lead = _read_lead(r, path, start, row, index, columns, rules)
        if lead is None:
            continue
        if lead.number in leads:
            r.warning(
                Location(path, start, index[columns.number] + 1),
                f"{lead.number} is also on line {first_line[lead.number]}: this later row wins",
            )
        else:
            first_line[lead.number] = start
        leads[lead.number] = lead
    return list(leads.values()), r.sorted()


def _read_lead(
    r: Checker,
    path: str,
    line: int,
    row: list[str],
    index: Mapping[str, int],
    columns: LeadColumns,
    rules: NumberRules,
) -> Lead | None:
    def cell(name: str) -> str:
        i = index[name]
        return row[i].strip() if i < len(row) else ""

    ok = True
    raw = cell(columns.number)
    number = normalise(raw, rules)
    if isinstance(number, Refused):
        r.error(
            Location(path, line, index[columns.number] + 1),
            f"'{columns.number}' is not a number we may dial: {number.reason.value}"
            f" ({number.detail})",
        )
        ok = False
    zone = cell(columns.timezone) if columns.timezone is not None else ""
    zone = zone or (columns.default_timezone or "")
    if not zone:
        # TODO(dialer): a zone from the number itself (NANP area codes, country codes).
        r.error(
            Location(path, line, 1),
            "no time zone: give the lead one in its column, or a default_timezone",
        )
        ok = False
    elif not _zone_exists(zone):
        where = index[columns.timezone] + 1 if columns.timezone is not None else 1
        r.error(Location(path, line, where), f"unknown time zone '{zone}'")
        ok = False
    if not ok or isinstance(number, Refused):
        return None
    return Lead(number.e164, zone, {name: cell(name) for name in columns.fields}, line)


__all__ = [
    "CAMPAIGN_FILE",
    "AbandonRule",
    "BlendRule",
    "Campaign",
    "Lead",
    "LeadColumns",
    "PreviewRule",
    "campaign_schema",
    "parse_campaign",
    "parse_leads",
]
