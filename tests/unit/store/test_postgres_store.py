"""The PostgreSQL store on a real server: what only it has to get right (several nodes on one
database, a server that goes away and comes back, migrations run by nodes starting
together, a password kept out of every message). The promises both stores share are
tested on both, through the ``store`` fixture (conftest.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from store_fixtures import T0

from callflow.app.settings import SettingsError, load_settings
from callflow.kpi.cli import read_events
from callflow.store import SchemaTooNew, SqliteStore, StoreUnavailable, open_store
from callflow.store.postgres import ID_BLOCK, PostgresStore, describe_dsn
from callflow.testing.postgres import PostgresServer


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[PostgresServer]:
    """A server of this test's own, to take down and bring back."""
    server = PostgresServer(tmp_path / "pg")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def wait_until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_open_store_opens_postgresql_for_a_url_and_sqlite_for_a_path(
    database: str, tmp_path: Path
) -> None:
    postgres = open_store(database, node="n1")
    sqlite = open_store(tmp_path / "s.sqlite3")
    try:
        assert isinstance(postgres, PostgresStore) and postgres.node == "n1"
        assert isinstance(sqlite, SqliteStore)
    finally:
        postgres.close()
        sqlite.close()


def test_two_nodes_share_one_database_without_clashing_ids(database: str) -> None:
    """Two nodes write at once: every event is kept under its own id, with its node; what
    one node learns (the last agent) the other reads."""
    a, b = PostgresStore(database, node="a"), PostgresStore(database, node="b")
    try:
        ids: dict[str, list[int]] = {"a": [], "b": []}

        def write(store: PostgresStore, name: str) -> None:
            for n in range(ID_BLOCK + 300):  # past one block of ids: the next is fetched
                ids[name].append(store.append("flow.step", f"{name}{n % 7}", {"n": n}))

        threads = [threading.Thread(target=write, args=(s, s.node)) for s in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        a.append("queue.connect", "c1", {"caller": "+15550001", "agent": "bob"}, at=T0)
        a.flush()
        b.flush()
        every = ids["a"] + ids["b"]
        assert 0 not in every  # the ids at hand outlast a burst (0: given at commit)
        assert len(set(every)) == len(every)
        assert ids["a"] == sorted(ids["a"]) and ids["b"] == sorted(ids["b"])
        events = b.events(kind="flow.step")
        assert len(events) == 2 * (ID_BLOCK + 300)
        assert {e.node for e in events} == {"a", "b"}
        assert b.last_agent_sync("+15550001", T0.timestamp() - 1) == "bob"
    finally:
        a.close()
        b.close()


def test_a_server_that_goes_away_loses_no_write_and_comes_back(
    own_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Writes made while the server is down are held, in order, and committed once it is
    back; a read meanwhile says the store is unavailable; health says so to /metrics."""
    store = PostgresStore(own_server.dsn, node="n1")
    store._writer.retry_every = 0.1
    try:
        store.append("call.start", "c1", {"n": 0})
        store.save_queue_entry({"id": "c1", "queue": "support", "joined_at": 1.0})
        store.flush()
        own_server.down()
        for n in range(1, 5):
            store.append("flow.step", "c1", {"n": n})
        store._ids.clear()  # the ids at hand run out while the server is away
        assert store.append("flow.step", "c1", {"n": 5}) == 0  # its id is given at commit
        store.save_callback(
            {
                "id": "cb1",
                "queue": "support",
                "number": "+15550002",
                "state": "waiting",
                "requested_at": 2.0,
            },
            "callback.waiting",
            {"callback": "cb1"},
        )
        wait_until(lambda: not store.health.writable)
        assert store.health.held >= 1, store.health
        with pytest.raises(StoreUnavailable):
            store.events()
        own_server.start()
        wait_until(lambda: store.health.writable)
        steps = [e.data["n"] for e in store.events(call_id="c1")]
        assert steps == [0, 1, 2, 3, 4, 5]
        assert [c["id"] for c in store.live_callbacks()] == ["cb1"]
        assert [e["id"] for e in store.queue_entries()] == ["c1"]
        assert "cannot write" in caplog.text and "writable again" in caplog.text
        # Ids are taken from the server again (0 until the first block comes back), and the
        # failure was said once, not once per event.
        wait_until(lambda: store.append("flow.step", "c2") != 0)
        assert caplog.text.count("cannot take event ids") <= 1
    finally:
        store.close()


def test_nodes_starting_together_migrate_once(database: str) -> None:
    """Four nodes open a new database at the same moment: one creates the schema, the others
    wait for it (an advisory lock), and all of them work."""
    opened: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one(n: int) -> None:
        try:
            opened.append(PostgresStore(database, node=f"n{n}"))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=open_one, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == [] and len(opened) == 4
        for store in opened:
            store.append("call.start", store.node)
        assert len(opened[0].events()) == 4
    finally:
        for store in opened:
            store.close()


def test_a_database_from_a_newer_callflow_is_refused(
    database: str, postgres: PostgresServer
) -> None:
    PostgresStore(database).close()
    name = database.rsplit("/", 1)[1]
    postgres.run_sql(f"\\c {name}\nUPDATE callflow_schema SET version = 99")
    with pytest.raises(SchemaTooNew, match="version 99"):
        PostgresStore(database)


async def test_an_attempt_is_claimed_once_whichever_node_claims_it(database: str) -> None:
    a, b = PostgresStore(database, node="a"), PostgresStore(database, node="b")
    try:
        a.import_leads("spring", [{"number": "+15550003", "line": 1}])
        lead = {"campaign": "spring", "number": "+15550003", "state": "dialing", "attempts": 1}
        attempt = {
            "id": "att-1",
            "campaign": "spring",
            "number": "+15550003",
            "attempt": 1,
            "state": "dialing",
            "dialed_at": 10.0,
        }
        a.flush()
        results = await asyncio.gather(
            a.claim_attempt(attempt, lead), b.claim_attempt({**attempt, "id": "att-2"}, lead)
        )
        assert sorted(results) == [False, True]
        assert len(a.campaign_attempts("spring")) == 1
    finally:
        a.close()
        b.close()


def test_the_password_is_never_in_what_the_store_says(postgres: PostgresServer) -> None:
    dsn = f"postgresql://callflow:s3cret-word@127.0.0.1:{postgres.port}/absent_db"
    assert describe_dsn(dsn) == f"postgresql://callflow@127.0.0.1:{postgres.port}/absent_db"
    with pytest.raises(StoreUnavailable) as caught:
        PostgresStore(dsn)
    assert "s3cret-word" not in str(caught.value)
    assert "absent_db" in str(caught.value)


def test_the_settings_take_a_postgresql_url(tmp_path: Path) -> None:
    """``store:`` is a file or a URL, or a section with ``path`` or ``url``; both at once,
    or a URL that is not PostgreSQL's, is refused at its line and column."""
    path = tmp_path / "callflow.yaml"
    path.write_text("flows: []\nstore: postgresql://cf@db.local:5433/callflow\n")
    settings = load_settings(path)
    assert settings.store_url == "postgresql://cf@db.local:5433/callflow"
    assert settings.store_location == settings.store_url
    path.write_text("flows: []\nstore:\n  url: postgres://cf@db/cc\n  retention_days: 30\n")
    settings = load_settings(path)
    assert (settings.store_url, settings.store_retention_days) == ("postgres://cf@db/cc", 30.0)
    path.write_text("flows: []\nstore: var/x.sqlite3\n")
    assert load_settings(path).store_location == str(tmp_path / "var/x.sqlite3")
    path.write_text("flows: []\nstore:\n  path: a.sqlite3\n  url: postgresql://cf@db/cc\n")
    with pytest.raises(SettingsError, match=r"callflow\.yaml:4:8: .*not both"):
        load_settings(path)
    path.write_text("flows: []\nstore:\n  url: mysql://cf@db/cc\n")
    with pytest.raises(SettingsError, match=r"callflow\.yaml:3:8: .*postgresql://"):
        load_settings(path)


def test_a_report_reads_the_same_events_from_either_store(database: str, tmp_path: Path) -> None:
    """``callflow report`` on a PostgreSQL store reads what it reads from SQLite: the
    events of the range, and each agent's last state before it."""
    stores = [PostgresStore(database), SqliteStore(tmp_path / "r.sqlite3")]
    since, until = T0, T0 + dt.timedelta(hours=1)
    for store in stores:
        store.append(
            "agent.state", "", {"agent": "bob", "state": "paused"}, at=T0 - dt.timedelta(hours=2)
        )
        store.append(
            "agent.state", "", {"agent": "bob", "state": "available"}, at=T0 - dt.timedelta(hours=1)
        )
        store.append("queue.enter", "c1", {"queue": "support"}, at=T0 + dt.timedelta(minutes=1))
        store.append("flow.step", "c1", {"node": "menu"}, at=T0 + dt.timedelta(minutes=2))
        store.append("queue.exit", "c2", {"queue": "support"}, at=until + dt.timedelta(minutes=1))
        store.close()
    read = [read_events(location, since, until) for location in (database, tmp_path / "r.sqlite3")]
    shapes = [[(e.kind, e.call_id, e.at, dict(e.data)) for e in events] for events in read]
    assert shapes[0] == shapes[1]
    assert [kind for kind, *_ in shapes[0]] == ["agent.state", "queue.enter"]
    assert shapes[0][0][3]["state"] == "available"


def test_each_node_takes_back_its_own_callers_calls_callbacks_and_agents(
    database: str, tmp_path: Path
) -> None:
    """After a restart a node takes back what it had: its waiting callers, its calls with no
    end, its callbacks and its agents' states, never another node's (which that node is
    serving). A SQLite file is one node's: there, "mine" is everything."""
    east, west = PostgresStore(database, node="east"), PostgresStore(database, node="west")
    # Two writers of one SQLite file under two names (a renamed node): still one node's file.
    single, renamed = (SqliteStore(tmp_path / "one.sqlite3", node=n) for n in ("east", "west"))
    try:
        for store in (east, west, single, renamed):
            store.save_queue_entry({"id": f"q-{store.node}", "queue": "support", "joined_at": 1.0})
            store.append("call.start", f"c-{store.node}", {}, at=T0)
            store.append("agent.state", "", {"agent": f"agent-{store.node}"}, at=T0)
            store.save_callback(
                {"id": f"cb-{store.node}", "queue": "support", "number": "+15550004",
                 "state": "waiting", "requested_at": 3.0},
            )  # fmt: skip
            store.flush()
        since = T0 - dt.timedelta(hours=1)
        assert [e["id"] for e in east.queue_entries(mine=True)] == ["q-east"]
        assert sorted(e["id"] for e in east.queue_entries()) == ["q-east", "q-west"]
        assert list(west.unended_calls(since, mine=True)) == ["c-west"]
        assert sorted(west.unended_calls(since)) == ["c-east", "c-west"]
        assert [c["id"] for c in east.live_callbacks(mine=True)] == ["cb-east"]
        # A change written under west's name (`callflow callbacks` with west's settings)
        # leaves east's callback east's: east still dials it.
        west.save_callback(
            {"id": "cb-east", "queue": "support", "number": "+15550004",
             "state": "waiting", "requested_at": 3.0, "attempts": 1},
        )  # fmt: skip
        west.flush()
        assert [c["id"] for c in east.live_callbacks(mine=True)] == ["cb-east"]
        assert [c["attempts"] for c in east.live_callbacks(mine=True)] == [1]
        assert [c["id"] for c in west.live_callbacks(mine=True)] == ["cb-west"]
        assert list(west.latest("agent.state", "agent", mine=True)) == ["agent-west"]
        assert sorted(west.latest("agent.state", "agent")) == ["agent-east", "agent-west"]
        assert sorted(e["id"] for e in single.queue_entries(mine=True)) == ["q-east", "q-west"]
        assert sorted(single.unended_calls(since, mine=True)) == ["c-east", "c-west"]
    finally:
        for store in (east, west, single, renamed):
            store.close()


def test_times_and_kinds_sort_byte_by_byte_whatever_the_database_locale(database: str) -> None:
    """In an ICU ``en-US`` database (punctuation ignored at first), ``…06+00:00`` sorts after
    ``…06.5+00:00``: the store's text columns compare as SQLite's do (byte order), so an
    event on a whole second is not read as later than one half a second after it."""
    store = PostgresStore(database)
    try:
        whole = dt.datetime(2026, 12, 7, 7, 56, 6, tzinfo=dt.UTC)
        store.append("call.start", "early", at=whole)
        store.append("call.start", "late", at=whole + dt.timedelta(milliseconds=500))
        store.append("callback.requested", "cb", at=whole)
        since = whole + dt.timedelta(milliseconds=200)
        assert [e.call_id for e in store.events(since=since)] == ["late"]
        assert [e.call_id for e in store.events(kinds=["call."])] == ["early", "late"]
        assert list(store.unended_calls(since)) == ["late"]
    finally:
        store.close()
