"""Spec: the vocabulary of the flow language — every key, its kind and its meaning.

The tables both the checker (:mod:`callflow.flow.loader`) and the JSON Schema
(:mod:`callflow.flow.schema`) read, so the editor's completion and ``callflow check``
never disagree: the top level, the settings, prompts and conditions here, and the keys
several node types share; each node type lists its own keys in its module of
:mod:`callflow.flow.nodes`.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Kind(enum.Enum):
    """What a key's value must look like."""

    TEXT = "text"  # any scalar, kept as written; ${name} is interpolated at run time
    NAME = "name"  # a variable name: letters, digits, underscore
    INTEGER = "integer"  # a whole number >= minimum
    SECONDS = "seconds"  # a positive number of seconds
    BOOLEAN = "boolean"
    NODE = "node"  # the name of a node to go to
    PROMPTS = "prompts"  # one prompt or a list of prompts
    KEY = "key"  # one phone key: 0-9, * or #
    OPTIONS = "options"  # phone key -> node
    REGEX = "regex"
    TIMEZONE = "timezone"
    WEEKLY = "weekly"  # days -> "HH:MM-HH:MM" or a list of them
    DATES = "dates"  # dates, {date, name} or {from, to, name}
    VARIABLES = "variables"  # name -> value
    RULES = "rules"  # list of {if: condition, next: node}
    STRINGS = "strings"  # a list of text
    ENTRIES = "entries"  # dialled number/extension -> node
    INCLUDES = "includes"  # relative paths of sub-flow files
    SETTINGS = "settings"
    NODES = "nodes"


@dataclass(frozen=True)
class Field:
    """One key allowed in a mapping."""

    name: str
    kind: Kind
    doc: str
    required: bool = False
    minimum: int = 0
    choices: tuple[str, ...] = ()  # for TEXT: the only words allowed


TYPE = Field("type", Kind.TEXT, "What the node does.", required=True)
DESCRIPTION = Field("description", Kind.TEXT, "A note for people reading the flow.")
PROMPT = Field("prompt", Kind.PROMPTS, "What the caller hears: a prompt or a list of prompts.")
BARGE_IN = Field("barge_in", Kind.BOOLEAN, "Whether a key press stops the prompt.")
TIMEOUT = Field("timeout", Kind.SECONDS, "Seconds to wait for the caller to press a key.")
RETRIES = Field(
    "retries", Kind.INTEGER, "How many more times to ask after a wrong or missing answer."
)
INVALID = Field("invalid_prompt", Kind.PROMPTS, "Played before asking again after a wrong key.")
TIMED_OUT = Field("timeout_prompt", Kind.PROMPTS, "Played before asking again after silence.")
# What a menu and an input share: how long and how often they ask, and what they say then.
ASKING = (TIMEOUT, RETRIES, INVALID, TIMED_OUT)
ON_FAILURE = Field(
    "on_failure", Kind.NODE, "Where to go when the caller never gives a valid answer."
)

SETTINGS: tuple[Field, ...] = (
    Field("language", Kind.TEXT, "Language of recorded prompts (default 'en')."),
    Field("voice", Kind.TEXT, "Text-to-speech voice for say: prompts (default 'en-us')."),
    Field("sounds_dir", Kind.TEXT, "Directory holding the sound files, for the checker."),
    Field("timezone", Kind.TIMEZONE, "Timezone for hours nodes and now.* variables (UTC)."),
    Field("timeout", Kind.SECONDS, "Default seconds to wait for a key (default 5)."),
    Field("retries", Kind.INTEGER, "Default number of retries in menus and inputs (2)."),
    Field("digit_timeout", Kind.SECONDS, "Seconds allowed between digits of an input (3)."),
)

TOP_LEVEL: tuple[Field, ...] = (
    Field("description", Kind.TEXT, "What this flow is for."),
    Field("settings", Kind.SETTINGS, "Flow-wide defaults."),
    Field("entry", Kind.ENTRIES, "Dialled number or extension -> first node."),
    Field(
        "on_restart",
        Kind.NODE,
        "Where a caller who was in this flow when callflow restarted carries on, e.g. an"
        " apology and the main menu (default: none).",
    ),
    Field("include", Kind.INCLUDES, "Sub-flow files (paths relative to this file)."),
    Field("variables", Kind.VARIABLES, "Variables the call starts with: name: default."),
    Field("nodes", Kind.NODES, "The flow's nodes by name.", required=True),
)

# Keys only a top-level flow may have: an included sub-flow has none of its own.
TOP_ONLY = ("settings", "entry", "on_restart")
SUB_FLOW: tuple[Field, ...] = tuple(f for f in TOP_LEVEL if f.name not in TOP_ONLY)

PROMPT_KINDS: dict[str, str] = {
    "sound": "A sound file, e.g. custom/welcome or hello-world.",
    "say": "Text spoken by the text-to-speech voice.",
    "digits": "A value read digit by digit.",
    "number": "A value read as a number.",
    "date": "A date (YYYY-MM-DD) read out.",
    "time": "A time (HH:MM) read out.",
}

# Operators of a condition and the kind of value each takes.
OPERATORS: dict[str, str] = {
    "equals": "text",
    "not_equals": "text",
    "starts_with": "text",
    "ends_with": "text",
    "contains": "text",
    "matches": "regex",
    "in": "list",
    "not_in": "list",
    "greater_than": "number",
    "less_than": "number",
    "at_least": "number",
    "at_most": "number",
    "between": "pair",
    "is_set": "boolean",
}
COMBINATORS = ("all", "any", "not")

# Figures the runtime supplies about a queue; a condition on them names the queue.
QUEUE_FIGURES = ("queue.estimated_wait", "queue.callers_waiting", "queue.agents_available")

# Variables every call has.
BUILTIN_VARIABLES = (
    "call_id",
    "caller_id",
    "caller_name",
    "dialed",
    "endpoint",
    "language",
    "now.date",
    "now.time",
    "now.weekday",
    "now.hour",
)

PHONE_KEYS = "0123456789*#"

# What may reach a dial string once ${...} values are filled in; anything else (``&``, ``,``,
# ``@host``...) would dial more than one target or another server, so the engine refuses it
# at run time and the checker refuses it in a flow.
ENDPOINT = re.compile(r"(?:PJSIP|SIP|IAX2)/[A-Za-z0-9_.+-]{1,64}")
EXTENSION = re.compile(r"[0-9*#+]{1,32}|[A-Za-z0-9_-]{1,32}")
MAILBOX = re.compile(r"([0-9A-Za-z_-]{1,32})(?:@([0-9A-Za-z_-]{1,32}))?")
