"""Outbound calls: the trunk's dial template and the one door a number goes through to it.

A number reaches a dial string only through :func:`originate_endpoint`, which refuses
anything that is not E.164 (``+`` then 6 to 15 ASCII digits): no letters, spaces, ``*``,
``#``, ``&`` (Dial's "ring these too"), ``,`` (an application argument), ``/`` or ``@``
(another technology or host). The template itself is checked once, when the settings are
read (:func:`template_problem`), the same way for ``callflow check`` and ``callflow run``.

An answered call can be sent through the dialplan and taken back (:func:`detour`), e.g.
through ``callflow-amd`` for answering-machine detection (the dialer, callbacks), and a
machine's greeting waited out there before a message is left on it (:func:`wait_out_greeting`).

The shape is a real SIP provider's: ``endpoint: "PJSIP/{number}@pstn"`` (the sandbox's
trunk is the PJSIP endpoint ``pstn``), the caller ID presented, and how long to ring.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass

from callflow.ari import errors as ari_errors
from callflow.ari.dispatch import EventQueue
from callflow.ari.events import ChannelDestroyed, ChannelHangupRequest, StasisEnd, StasisStart
from callflow.ari.rest import AriClient

AMD_CONTEXT = "callflow-amd"  # AMD(), then back: Stasis(app,outbound,AMDSTATUS,AMDCAUSE)
#: The extension of AMD_CONTEXT that waits for a machine's greeting (and beep) to end: a
#: second of quiet, within GREETING_LIMIT s; back as Stasis(app,outbound,GREETING,status,ms).
GREETING_EXTENSION = "greeting"
GREETING_LIMIT = 10.0  # WaitForSilence's bound in the dialplan, in s
DETOUR_LIMIT = 30.0  # s to leave, or to come back: AMD takes 5 s, a greeting waited out 10 s
E164 = re.compile(r"\+[0-9]{6,15}")
# What a template may hold around its placeholders: a technology, then a resource made of
# the characters of SIP URIs and endpoint names, never a separator of several targets.
_TEMPLATE = re.compile(r"[A-Za-z][A-Za-z0-9_]*/[A-Za-z0-9_.@:+=;/\-]*")
PLACEHOLDERS = ("{number}", "{digits}")
_CALLER_ID = re.compile(r'(?:"?[A-Za-z0-9 .,\'\-]{1,40}"? )?<\+[0-9]{6,15}>|\+[0-9]{6,15}')


class InvalidNumber(ValueError):
    """A number that may not be dialled: not ``+`` followed by 6 to 15 digits."""

    def __init__(self, number: object) -> None:
        shown = repr(number) if isinstance(number, str) else type(number).__name__
        super().__init__(
            f"{shown} is not an E.164 number ('+' then 6 to 15 digits); it is not dialled"
        )
        self.number = number


def e164(number: object) -> str:
    """The number itself if it is E.164 (``+15550100123``), else InvalidNumber."""
    if not isinstance(number, str) or not E164.fullmatch(number):
        raise InvalidNumber(number)
    return number


def template_problem(template: str) -> str | None:
    """Why a dial template is unusable (None: it is fine): one technology and resource, with
    exactly one ``{number}`` or ``{digits}`` (the number without its ``+``)."""
    found = [p for p in PLACEHOLDERS if p in template]
    if sum(template.count(p) for p in PLACEHOLDERS) != 1:
        return "the endpoint template must hold {number} (or {digits}) exactly once"
    bare = template.replace(found[0], "0")
    if not _TEMPLATE.fullmatch(bare):
        return (
            "the endpoint template must be TECH/resource, e.g. PJSIP/{number}@pstn, "
            "with no &, comma, space, braces or other separators"
        )
    return None


def caller_id_problem(caller_id: str) -> str | None:
    """Why a caller ID is unusable (None: fine): ``+15550100000`` or ``Name <+15550100000>``."""
    if caller_id and not _CALLER_ID.fullmatch(caller_id):
        return "the caller ID must be an E.164 number, or a name then <+number>"
    return None


@dataclass(frozen=True)
class OutboundSettings:
    """How callflow dials out: the trunk's dial template, the caller ID it presents, and
    how many seconds a call may ring before it counts as not answered."""

    endpoint: str = "PJSIP/{number}@pstn"
    caller_id: str = ""
    ring_timeout: int = 25

    def __post_init__(self) -> None:
        problem = template_problem(self.endpoint) or caller_id_problem(self.caller_id)
        if problem is not None:
            raise ValueError(problem)
        if not 1 <= self.ring_timeout <= 600:
            raise ValueError("the ring timeout must be 1 to 600 seconds")


def originate_endpoint(number: object, outbound: OutboundSettings) -> str:
    """The ARI originate ``endpoint`` for an E.164 number through the trunk, e.g.
    ``PJSIP/+15550100123@pstn``; InvalidNumber for anything else."""
    checked = e164(number)
    # str.replace, not str.format: nothing in the number is ever read as a template.
    return outbound.endpoint.replace("{number}", checked).replace("{digits}", checked[1:])


async def answer_of(events: EventQueue, timeout: float) -> tuple[StasisStart | None, int | None]:
    """Wait for an originated channel to answer (its StasisStart) or end; (start, None) or
    (None, the Q.850 cause if Asterisk gave one)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    ended = False
    while (remaining := deadline - loop.time()) > 0:
        try:
            async with asyncio.timeout(min(remaining, 2.0) if ended else remaining):
                event = await events.get()
        except TimeoutError:
            break
        if event is None:
            break
        if isinstance(event, StasisStart):
            return event, None
        if isinstance(event, ChannelDestroyed):
            return None, event.cause
        if isinstance(event, ChannelHangupRequest | StasisEnd):
            ended = True  # the cause comes with ChannelDestroyed, shortly
    return None, None


@dataclass(frozen=True)
class GreetingEnd:
    """How the wait for a machine's greeting to end went: ``status`` is WaitForSilence's
    (``SILENCE``: a second of quiet came; ``TIMEOUT``: none within :data:`GREETING_LIMIT`
    s), ``waited`` its length in seconds (None if the dialplan did not say)."""

    status: str
    waited: float | None


async def detour(
    ari: AriClient,
    channel_id: str,
    events: EventQueue,
    attach: Callable[[str, EventQueue], None],
    context: str,
    limit: float = DETOUR_LIMIT,
    extension: str = "s",
) -> StasisStart | None:
    """Send an answered channel of the app through the dialplan ``context`` (at
    ``extension``) and take it back: the StasisStart it returns with (its args say what
    the context found: AMD's status and cause after :data:`AMD_CONTEXT`), or None if it
    hung up or was not back within ``limit`` s each way (then it is hung up)."""
    try:
        await ari.channels.continue_in_dialplan(
            channel_id, context=context, extension=extension, priority=1
        )
    except (ari_errors.NotFound, ari_errors.NotInStasis):  # hung up at once
        return None
    left = await _next_of(events, (StasisEnd, ChannelDestroyed), limit)
    if not isinstance(left, StasisEnd):
        return None
    # The dispatcher forgets a channel that leaves Stasis: route its return here again.
    attach(channel_id, events)
    back = await _next_of(events, (StasisStart, ChannelDestroyed), limit)
    if isinstance(back, StasisStart):
        return back
    with contextlib.suppress(ari_errors.AriError):  # gone already
        await ari.channels.hangup(channel_id)
    return None


async def wait_out_greeting(
    ari: AriClient,
    channel_id: str,
    events: EventQueue,
    attach: Callable[[str, EventQueue], None],
) -> GreetingEnd | None:
    """Wait, in the dialplan, until the greeting of the machine on ``channel_id`` is over
    (its beep too: a second of quiet, the machine recording), at most
    :data:`GREETING_LIMIT` s: how it ended, with the channel back in the app to be played
    the message; None if the machine hung up meanwhile. The one way the dialer and
    callbacks leave a message after the beep."""
    back = await detour(
        ari,
        channel_id,
        events,
        attach,
        AMD_CONTEXT,
        GREETING_LIMIT + 10.0,  # the bound's own slack on a loaded machine
        extension=GREETING_EXTENSION,
    )
    if back is None:
        return None
    return greeting_end_of(back.args)


def greeting_end_of(args: tuple[str, ...]) -> GreetingEnd:
    """The dialplan's word on a greeting's end from the args of the channel's return,
    ``("outbound", "GREETING", status, ms)``."""
    status = args[2] if len(args) > 2 and args[1:2] == ("GREETING",) else ""
    waited: float | None = None
    if len(args) > 3 and re.fullmatch(r"[0-9]{1,9}", args[3]):
        waited = int(args[3]) / 1000
    return GreetingEnd(status or "UNKNOWN", waited)


async def _next_of(events: EventQueue, kinds: tuple[type, ...], timeout: float) -> object:
    """The next event of one of ``kinds``, or None after ``timeout`` (or at the end)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            while (event := await events.get()) is not None:
                if isinstance(event, kinds):
                    return event
    return None
