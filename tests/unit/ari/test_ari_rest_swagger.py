"""Every call of the REST client is one Asterisk 22 declares: checked against the API
description (Swagger 1.1 JSON) that Asterisk ships, read from the sandbox rootfs.

Each public method of each resource is found by introspection and called through the
fake ARI server, once with its required arguments only and once with every argument set
(and once per value of each ``Literal`` parameter); the request that reaches the wire must
match an operation's HTTP method and path, send only parameters that operation declares
(query or JSON body, as declared), send all it requires, and send values of the declared
type and, where Asterisk lists them, among the allowed values.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import re
import types
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from ari_fake import FakeAri, Received, make_config

from callflow.ari import AriClient, AriError
from callflow.ari.rest import _Resource
from callflow.sandbox.rootfs import rootfs_path

REST_API = Path("usr/share/asterisk/rest-api")

# Methods that refuse a call with their required arguments alone, and what makes it valid.
MINIMAL: dict[str, dict[str, object]] = {"Channels.originate": {"app": "callflow"}}


@dataclass(frozen=True)
class Operation:
    """One operation of Asterisk's API: ``POST /channels/{channelId}/play``."""

    http_method: str
    path: str
    parameters: Mapping[str, Mapping[str, Any]]

    def __str__(self) -> str:
        return f"{self.http_method} {self.path}"

    @property
    def pattern(self) -> re.Pattern[str]:
        return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(self.path)) + "$")

    @property
    def templated(self) -> int:
        return self.path.count("{")

    def of_type(self, kind: str) -> dict[str, Mapping[str, Any]]:
        return {n: p for n, p in self.parameters.items() if p["paramType"] == kind}


@pytest.fixture(scope="module")
def operations() -> list[Operation]:
    """Asterisk 22's ARI operations, from the JSON files its res_ari package installs."""
    rootfs = rootfs_path()
    if not rootfs.exists():
        pytest.skip(
            f"no Asterisk rootfs at {rootfs}: `callflow sandbox provision` (as root) builds it; "
            "scripts/setup, and so CI, always does"
        )
    folder = rootfs / REST_API
    files = sorted(f for f in folder.glob("*.json") if f.name != "resources.json")
    if not files:
        pytest.fail(f"the Asterisk rootfs at {rootfs} has no ARI API description in {folder}")
    found: list[Operation] = []
    for file in files:
        for api in json.loads(file.read_text())["apis"]:
            for op in api["operations"]:
                parameters = {p["name"]: p for p in op.get("parameters", [])}
                found.append(Operation(op["httpMethod"], api["path"], parameters))
    return found


# --- calling every method ------------------------------------------------------------


def resources() -> Iterator[tuple[str, str]]:
    """(client attribute, method name) of every public REST call of the client."""
    client = AriClient(make_config("http://127.0.0.1:1"))
    for attribute, resource in vars(client).items():
        if not isinstance(resource, _Resource):
            continue
        for name, _ in inspect.getmembers(type(resource), inspect.iscoroutinefunction):
            if not name.startswith("_"):
                yield attribute, name


CALLS = sorted(resources())


def options(hint: object) -> tuple[object, ...]:
    """The types a hint allows, None aside: ``str | None`` -> ``(str,)``."""
    union = typing.get_origin(hint) in (typing.Union, types.UnionType)
    return tuple(o for o in (typing.get_args(hint) if union else (hint,)) if o is not type(None))


def sample(name: str, hint: object) -> object:
    """A value of type ``hint`` for parameter ``name``."""
    allowed = options(hint)
    first = allowed[0]
    if typing.get_origin(first) is typing.Literal:
        return typing.get_args(first)[0]
    if str in allowed:
        return f"sample-{name}"
    if first is bool:
        return True
    if first is int:
        return 7
    if typing.get_origin(first) is Mapping:
        return {"CALLFLOW_SAMPLE": "1"}
    raise AssertionError(f"no sample value for {name}: {hint}")


def literals(hint: object) -> tuple[object, ...]:
    for option in options(hint):
        if typing.get_origin(option) is typing.Literal:
            return typing.get_args(option)
    return ()


@dataclass(frozen=True)
class Call:
    """One way to call a method: its name and the arguments."""

    label: str
    kwargs: dict[str, object]


def calls_of(method: Callable[..., Awaitable[object]], qualname: str) -> list[Call]:
    """Required arguments only; every argument; each value of each Literal parameter."""
    hints = typing.get_type_hints(method)
    parameters = [p for p in inspect.signature(method).parameters.values() if p.name != "self"]
    required = {p.name: sample(p.name, hints[p.name]) for p in parameters if p.default is p.empty}
    required.update(MINIMAL.get(qualname, {}))
    everything = {p.name: sample(p.name, hints[p.name]) for p in parameters}
    ways = [Call("required arguments", required), Call("every argument", everything)]
    for p in parameters:
        for value in literals(hints[p.name])[1:]:
            ways.append(Call(f"{p.name}={value!r}", {**required, p.name: value}))
    return ways


async def wire_requests(
    fake: FakeAri, client: AriClient, attribute: str, name: str
) -> list[tuple[Call, Received]]:
    resource = getattr(client, attribute)
    qualname = f"{type(resource).__name__}.{name}"
    sent: list[tuple[Call, Received]] = []
    for way in calls_of(getattr(type(resource), name), qualname):
        before = len(fake.received)
        with contextlib.suppress(AriError):  # the fake answers 404: only the request matters
            await getattr(resource, name)(**way.kwargs)
        requests = fake.received[before:]
        assert len(requests) == 1, f"{qualname} with {way.label} sent {len(requests)} requests"
        sent.append((way, requests[0]))
    return sent


# --- matching a request to Asterisk's operations -------------------------------------


def operation_for(operations: list[Operation], method: str, path: str) -> Operation | None:
    candidates = [o for o in operations if o.http_method == method and o.pattern.match(path)]
    # /channels/externalMedia also matches /channels/{channelId}: the literal path wins.
    return min(candidates, key=lambda o: o.templated, default=None)


def value_problem(parameter: Mapping[str, Any], value: str) -> str | None:
    """Why ``value`` is not what Asterisk takes for ``parameter``, or None."""
    values = value.split(",") if parameter.get("allowMultiple") else [value]
    data_type = parameter["dataType"]
    allowed = parameter.get("allowableValues") or {}
    for one in values:
        if data_type == "boolean" and one not in ("true", "false"):
            return f"{one!r} is not a boolean"
        if data_type in ("int", "long") and not re.fullmatch(r"-?\d+", one):
            return f"{one!r} is not an integer"
        if allowed.get("valueType") == "LIST" and one not in allowed["values"]:
            return f"{one!r} is not one of {allowed['values']}"
        if allowed.get("valueType") == "RANGE" and int(one) < allowed.get("min", int(one)):
            return f"{one!r} is below {allowed['min']}"
    return None


def problems(operation: Operation, request: Received) -> list[str]:
    found: list[str] = []
    query, body = operation.of_type("query"), operation.of_type("body")
    for name, value in request.query.items():
        if name not in query:
            found.append(f"query parameter {name!r} is not declared (declared: {sorted(query)})")
        elif (why := value_problem(query[name], value)) is not None:
            found.append(f"query parameter {name}: {why}")
    for name, parameter in query.items():
        if parameter.get("required") and name not in request.query:
            found.append(f"required query parameter {name!r} is missing")
    if request.body:
        sent = json.loads(request.body)
        for name in sent:
            if name not in body:
                found.append(f"body field {name!r} is not declared (declared: {sorted(body)})")
    return found


@pytest.mark.parametrize(("attribute", "name"), CALLS, ids=[f"{a}.{n}" for a, n in CALLS])
async def test_each_rest_call_is_one_asterisk_declares(
    operations: list[Operation], fake: FakeAri, client: AriClient, attribute: str, name: str
) -> None:
    """The method's requests match an operation of Asterisk 22's ARI: HTTP method, path,
    parameter names, where they travel, required ones present, values allowed."""
    for way, request in await wire_requests(fake, client, attribute, name):
        path = request.path_qs.split("?", 1)[0].removeprefix("/ari")
        operation = operation_for(operations, request.method, path)
        where = f"{attribute}.{name} with {way.label}: {request.method} {path}"
        assert operation is not None, f"{where}: no such operation in Asterisk's ARI"
        assert not problems(operation, request), f"{where} ({operation}): " + "; ".join(
            problems(operation, request)
        )


def test_the_event_socket_asks_for_what_asterisk_declares(operations: list[Operation]) -> None:
    """The event WebSocket's URL is GET /events with parameters Asterisk declares."""
    url = urlsplit(make_config("http://127.0.0.1:8088", subscribe_all=True).events_url)
    path = url.path.removeprefix("/ari")
    operation = operation_for(operations, "GET", path)
    assert operation is not None and operation.path == "/events"
    query = dict(parse_qsl(url.query))
    request = Received(method="GET", path_qs=path, query=query, headers={}, body=b"")
    assert not problems(operation, request)


def test_the_checks_catch_a_wrong_call(operations: list[Operation]) -> None:
    """The checks themselves tell an unknown path, an undeclared parameter, a missing
    required one and a value Asterisk does not allow."""
    assert operation_for(operations, "POST", "/channels/1700.1/nonsense") is None
    play = operation_for(operations, "POST", "/channels/1700.1/play")
    assert play is not None and play.path == "/channels/{channelId}/play"
    wrong = Received("POST", "", {"playback_id": "x", "skipms": "soon"}, {}, b"")
    assert problems(play, wrong) == [
        "query parameter 'playback_id' is not declared (declared: "
        f"{sorted(play.of_type('query'))})",
        "query parameter skipms: 'soon' is not an integer",
        "required query parameter 'media' is missing",
    ]
    hangup = operation_for(operations, "DELETE", "/channels/1700.1")
    assert hangup is not None
    assert problems(hangup, Received("DELETE", "", {"reason": "bored"}, {}, b""))
