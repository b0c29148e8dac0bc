"""Tests for the sans-I/O flow interpreter: actions out, results in, steps logged."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from callflow.flow import (
    AgentChange,
    AgentChanged,
    CallerHangup,
    Collect,
    Completed,
    Digits,
    EnterQueue,
    Failed,
    Finish,
    Flow,
    FlowFinished,
    FlowMachine,
    Hangup,
    Play,
    PlayDone,
    PlayInterrupted,
    QueueFigures,
    Redirect,
    SimpleContext,
    Timeout,
    Transfer,
    UnexpectedResult,
    UnknownEntry,
    Voicemail,
    load_flow,
    tts_sound_name,
)
from callflow.flow.machine import compare
from callflow.flow.prompts import date_sounds, time_sounds

REPO = Path(__file__).parents[3]

FLOW = """
settings: {timezone: Europe/London, retries: 2, timeout: 4}
variables: {tier: standard, agent: agent1}
entry:
  "100": menu
  "200": account
  "300": route
  "400": hours
  "500": intro
nodes:
  menu:
    type: menu
    prompt: [{say: "Press 1 for sales, 0 for an operator."}]
    options: {1: sales, 0: operator}
    repeat: "*"
    invalid_prompt: pbx-invalid
    timeout_prompt: please-try-again
    on_failure: operator
  sales:
    type: queue
    queue: sales
    skills: [english]
    priority: 2
    on_failure: bye
  operator:
    type: transfer
    endpoint: PJSIP/${agent}
    prompt: pls-hold-while-try
    on_failure: message
  message:
    type: voicemail
    mailbox: "1000@default"
    next: bye
  account:
    type: input
    variable: account
    prompt: vm-enter-num-to-call
    min_length: 4
    max_length: 6
    pattern: "^[1-9][0-9]*$"
    retries: 1
    invalid_prompt: privacy-incorrect
    next: read_back
    on_failure: bye
  read_back:
    type: play
    prompt: [you-entered, {digits: "${account}"}]
    next: bye
  route:
    type: branch
    conditions:
      - if: {var: caller_id, starts_with: "+44"}
        next: uk
      - if: {var: queue.estimated_wait, queue: sales, greater_than: 300}
        next: busy
    else: bye
  uk:
    type: set
    variables: {tier: "uk-${tier}", greeting: "Hello ${caller_name}"}
    next: bye
  busy:
    type: play
    prompt: {say: "We are busy."}
    next: bye
  hours:
    type: hours
    weekly: {mon-fri: "09:00-17:00"}
    holidays: [{date: 2025-12-25, name: Christmas}]
    open: menu
    closed: bye
    holiday: holiday
  holiday:
    type: goto
    target: bye
  intro:
    type: play
    prompt: hello-world
    barge_in: true
    next: menu
  bye:
    type: hangup
    prompt: goodbye
    reason: done
"""

WEDNESDAY_NOON = dt.datetime(2025, 7, 16, 11, 0, tzinfo=dt.UTC)  # 12:00 BST


@pytest.fixture
def flow(tmp_path: Path) -> Flow:
    path = tmp_path / "flow.yaml"
    path.write_text(FLOW)
    loaded, diagnostics = load_flow(str(path))
    assert loaded is not None, [str(d) for d in diagnostics]
    return loaded


def machine(
    flow: Flow,
    entry: str,
    now: dt.datetime = WEDNESDAY_NOON,
    queues: dict[str, QueueFigures] | None = None,
    **call_vars: str,
) -> FlowMachine:
    context = SimpleContext(clock=lambda: now, queues=queues or {})
    return FlowMachine(flow, entry=entry, call_id="c1", call_vars=call_vars, context=context)


MENU_PROMPT = f"sound:{tts_sound_name('Press 1 for sales, 0 for an operator.', 'en-us')}"


def test_menu_valid_option_enters_queue_then_finishes(flow: Flow) -> None:
    """Pressing 1 puts the caller in the sales queue with its skills, then the flow finishes."""
    m = machine(flow, "100")
    first = m.start()
    assert first == Collect((MENU_PROMPT,), 1, 1, None, 4.0, 3.0, True, "en")
    action = m.send(Digits("1"))
    assert isinstance(action, EnterQueue)
    assert (action.queue, action.skills, action.priority) == ("sales", ("english",), 2)
    assert action.variables["tier"] == "standard"
    assert m.send(Completed()) == Finish("queued")
    assert m.finished


def test_menu_invalid_key_replays_with_invalid_prompt_first(flow: Flow) -> None:
    """A wrong key asks again, starting with the invalid prompt, then a valid key still works."""
    m = machine(flow, "100", agent="agent7")
    m.start()
    again = m.send(Digits("9"))
    assert isinstance(again, Collect)
    assert again.media == ("sound:pbx-invalid", MENU_PROMPT)
    transfer = m.send(Digits("0"))
    assert transfer == Transfer(
        "PJSIP/agent7", None, "callflow-transfer", 30.0, ("sound:pls-hold-while-try",), "en"
    )
    assert [s.outcome for s in m.pop_steps()] == ["invalid", "option 0", "transfer"]


def test_menu_timeouts_exhaust_retries_then_go_on_failure(flow: Flow) -> None:
    """After the first try and two retries time out, the menu goes to its on_failure node."""
    m = machine(flow, "100")
    m.start()
    assert isinstance(m.send(Timeout()), Collect)
    second = m.send(Timeout())
    assert isinstance(second, Collect) and second.media[0] == "sound:please-try-again"
    assert isinstance(m.send(Timeout()), Transfer)
    assert m.steps[-2].outcome == "timeout; retries exhausted"


def test_repeat_key_replays_menu_without_using_a_retry(flow: Flow) -> None:
    """The repeat key replays the menu any number of times without counting as a failure."""
    m = machine(flow, "100")
    m.start()
    for _ in range(5):
        assert m.send(Digits("*")) == Collect((MENU_PROMPT,), 1, 1, None, 4.0, 3.0, True, "en")
    m.send(Digits("7"))
    m.send(Digits("7"))
    assert isinstance(m.send(Digits("1")), EnterQueue)


def test_input_with_pattern_retries_then_reads_back(flow: Flow) -> None:
    """An entry failing the pattern is asked again; a valid one is stored and read back."""
    m = machine(flow, "200")
    first = m.start()
    assert isinstance(first, Collect)
    assert (first.min_length, first.max_length, first.terminator) == (4, 6, "#")
    again = m.send(Digits("0123", terminated=True))
    assert isinstance(again, Collect) and again.media[0] == "sound:privacy-incorrect"
    play = m.send(Digits("4567#", terminated=True))
    digits = tuple(f"sound:digits/{d}" for d in "4567")
    assert play == Play(("sound:you-entered", *digits), False, "en")
    assert m.variables["account"] == "4567"
    assert m.send(PlayDone()) == Hangup("done", ("sound:goodbye",), "en")


def test_input_too_short_exhausts_retries_to_on_failure(flow: Flow) -> None:
    """Entries shorter than min_length fail, and after the retries the input gives up."""
    m = machine(flow, "200")
    m.start()
    m.send(Digits("12", terminated=True))
    assert isinstance(m.send(Digits("", terminated=True)), Hangup)
    assert [s.outcome for s in m.steps] == [
        "invalid length",
        "timeout; retries exhausted",
        "hangup: done",
    ]


def test_branch_on_caller_id_then_set_interpolates(flow: Flow) -> None:
    """A UK caller takes the first rule, and set fills ${...} from existing variables."""
    m = machine(flow, "300", caller_id="+441632960000", caller_name="Ann")
    assert isinstance(m.start(), Hangup)
    assert m.variables["tier"] == "uk-standard"
    assert m.variables["greeting"] == "Hello Ann"
    assert [s.outcome for s in m.steps][:2] == ["rule 1", "set tier, greeting"]


def test_branch_on_queue_figures_from_context(flow: Flow) -> None:
    """A queue figure supplied by the runtime decides the branch; otherwise else is taken."""
    busy = machine(flow, "300", queues={"sales": QueueFigures(estimated_wait=600)})
    assert busy.start() == Play((f"sound:{tts_sound_name('We are busy.', 'en-us')}",), False, "en")
    quiet = machine(flow, "300", queues={"sales": QueueFigures(estimated_wait=60)})
    assert isinstance(quiet.start(), Hangup)
    assert quiet.steps[0].outcome == "else"


@pytest.mark.parametrize(
    ("now", "reason", "path"),
    [
        (WEDNESDAY_NOON, "open", ["hours"]),
        (dt.datetime(2025, 7, 16, 18, 0, tzinfo=dt.UTC), "closed", ["hours", "bye"]),
        (dt.datetime(2025, 12, 25, 12, 0, tzinfo=dt.UTC), "holiday", ["hours", "holiday", "bye"]),
    ],
)
def test_hours_branch_open_closed_holiday(
    flow: Flow, now: dt.datetime, reason: str, path: list[str]
) -> None:
    """The hours node takes open, closed or holiday from the driver's clock."""
    m = machine(flow, "400", now=now)
    action = m.start()
    assert [s.node for s in m.steps] == path
    assert m.steps[0].outcome.startswith(reason + ":")
    assert isinstance(action, Collect if reason == "open" else Hangup)


@pytest.mark.parametrize("entry", ["100", "200", "500"])
def test_caller_hangup_at_any_waiting_node_finishes(flow: Flow, entry: str) -> None:
    """A caller hanging up ends the flow wherever it is, and later results are refused."""
    m = machine(flow, entry)
    m.start()
    assert m.send(CallerHangup()) == Finish("caller_hangup")
    assert m.steps[-1].outcome == "caller_hangup"
    with pytest.raises(FlowFinished):
        m.send(PlayDone())


def test_caller_hangup_during_transfer_and_voicemail(flow: Flow) -> None:
    """Hangups are accepted while a transfer rings and while a message is recorded."""
    m = machine(flow, "100")
    m.start()
    m.send(Digits("0"))
    assert m.send(CallerHangup()) == Finish("caller_hangup")
    m = machine(flow, "100")
    m.start()
    m.send(Digits("0"))
    assert isinstance(m.send(Failed("no answer")), Voicemail)
    assert m.send(CallerHangup()) == Finish("caller_hangup")


def test_transfer_failure_goes_to_voicemail_then_goodbye(flow: Flow) -> None:
    """An unanswered transfer leads to voicemail, and after the message to goodbye."""
    m = machine(flow, "100")
    m.start()
    m.send(Digits("0"))
    voicemail = m.send(Failed("no answer"))
    assert voicemail == Voicemail("1000@default", True, 120, (), "en")
    assert m.send(Completed()) == Hangup("done", ("sound:goodbye",), "en")


def test_barge_in_key_during_play_is_typed_ahead_into_menu(flow: Flow) -> None:
    """A key pressed during a barge-in prompt selects the following menu's option directly."""
    m = machine(flow, "500")
    assert m.start() == Play(("sound:hello-world",), True, "en")
    assert isinstance(m.send(PlayInterrupted("1")), EnterQueue)
    assert m.steps[-1].outcome == "option 1 (typed ahead)"


def test_wrong_result_for_pending_action_is_refused(flow: Flow) -> None:
    """Sending PlayDone to a menu waiting for digits raises UnexpectedResult."""
    m = machine(flow, "100")
    m.start()
    with pytest.raises(UnexpectedResult):
        m.send(PlayDone())


def test_unknown_entry_is_refused(flow: Flow) -> None:
    """A number no entry serves raises UnknownEntry."""
    with pytest.raises(UnknownEntry):
        machine(flow, "999")


def test_steps_carry_call_id_node_input_and_time(flow: Flow) -> None:
    """Each step records the call id, node, its type, the caller's input and the time."""
    m = machine(flow, "100")
    m.start()
    m.send(Digits("9"))
    step = m.pop_steps()[0]
    assert (step.call_id, step.node, step.node_type, step.input, step.outcome, step.at) == (
        "c1",
        "menu",
        "menu",
        "9",
        "invalid",
        WEDNESDAY_NOON,
    )
    assert m.pop_steps() == []


def test_sample_flow_test_number_reads_digits_back_and_hangs_up() -> None:
    """Calling 700 on the sample flow prompts, collects digits to #, reads them back, hangs up."""
    flow, _ = load_flow(str(REPO / "config" / "flows" / "main.yaml"))
    assert flow is not None
    m = FlowMachine(flow, entry="700", call_id="t")
    collect = m.start()
    assert isinstance(collect, Collect)
    assert collect.terminator == "#" and collect.media[0] == "sound:hello-world"
    play = m.send(Digits("31415", terminated=True))
    digits = tuple(f"sound:digits/{d}" for d in "31415")
    assert play == Play(("sound:you-entered", *digits), False, "en")
    assert m.send(PlayDone()) == Hangup(
        "flow_finished", ("sound:demo-thanks", "sound:goodbye"), "en"
    )


def test_sample_flow_main_line_open_reaches_account_read_back() -> None:
    """On a weekday the main line plays the welcome, then menu option 4 reads the account back."""
    flow, _ = load_flow(str(REPO / "config" / "flows" / "main.yaml"))
    assert flow is not None
    m = machine(flow, "100")
    assert isinstance(m.start(), Play)
    assert isinstance(m.send(PlayDone()), Collect)
    assert isinstance(m.send(Digits("4")), Collect)
    assert m.send(Digits("12345678", terminated=True)) == Play(
        ("sound:you-entered", *(f"sound:digits/{d}" for d in "12345678")), False, "en"
    )


@pytest.mark.parametrize(
    ("value", "operator", "operand", "expected"),
    [
        ("+441632960000", "starts_with", "+44", True),
        ("5", "equals", "5.0", True),
        ("abc", "equals", "ABC", False),
        (None, "not_equals", "x", True),
        (None, "is_set", True, False),
        ("gold", "in", ("gold", "platinum"), True),
        ("10", "greater_than", "9", True),  # numbers compare as numbers, not text
        ("09:30", "between", ("09:00", "17:00"), True),
        ("17:00", "between", ("09:00", "17:00"), False),
        (None, "less_than", "5", False),
        ("A123", "matches", "^[A-Z][0-9]+$", True),
    ],
)
def test_compare_operators(
    value: str | None, operator: str, operand: str | tuple[str, ...] | bool, expected: bool
) -> None:
    """Each condition operator compares numbers numerically and text as text; unset is empty."""
    assert compare(value, operator, operand) is expected


def test_dates_and_times_are_spoken_with_core_digit_sounds() -> None:
    """A date says weekday, month, ordinal day and year; a time says a 12-hour clock."""
    assert date_sounds("2025-12-25") == [
        "digits/day-4",
        "digits/mon-11",
        "digits/20",
        "digits/h-5",
        "digits/20",
        "digits/20",
        "digits/5",
    ]
    assert time_sounds("14:05") == ["digits/2", "digits/oh", "digits/5", "digits/p-m"]
    assert time_sounds("00:00") == ["digits/12", "digits/oclock", "digits/a-m"]
    assert date_sounds("not a date") == []


def test_a_queue_can_redirect_the_caller_to_a_node(flow: Flow) -> None:
    """A queue exit key or overflow naming a node continues the flow there."""
    m = machine(flow, "100")
    m.start()
    assert isinstance(m.send(Digits("1")), EnterQueue)
    m.pop_steps()
    action = m.send(Redirect("message", "exit_key"))
    assert isinstance(action, Voicemail)
    assert [s.outcome for s in m.pop_steps()] == ["exit_key: message"]


def test_a_redirect_to_a_missing_node_takes_on_failure(flow: Flow) -> None:
    """A redirect to a node the flow does not have fails over like any queue failure."""
    m = machine(flow, "100")
    m.start()
    assert isinstance(m.send(Digits("1")), EnterQueue)
    action = m.send(Redirect("nowhere", "overflow"))
    assert isinstance(action, Hangup)
    assert m.pop_steps()[-2].outcome == "failed: overflow to unknown node nowhere"


def test_sample_agent_flow_pauses_with_a_reason_and_says_who() -> None:
    """The feature-code sample: *5 asks to pause for lunch; success sets the agent variables
    and says so; a refusal (not an agent's phone) goes to on_failure."""
    flow, diagnostics = load_flow(str(REPO / "config" / "flows" / "agents.yaml"))
    assert flow is not None, [str(d) for d in diagnostics]
    m = FlowMachine(flow, entry="*5", call_id="a")
    assert m.start() == AgentChange("pause", "lunch")
    action = m.send(AgentChanged("agent1", "paused"))
    assert isinstance(action, Hangup) and action.reason == "agent_pause"
    assert (m.variables["agent"], m.variables["agent_state"]) == ("agent1", "paused")
    assert [s.outcome for s in m.pop_steps()] == ["pause: agent1 paused", "hangup: agent_pause"]

    refused = FlowMachine(flow, entry="*1", call_id="b")
    assert refused.start() == AgentChange("login", "")
    action = refused.send(Failed("not_an_agent"))
    assert action == Hangup("agent_refused", ("sound:agent-incorrect",), "en")
    assert "agent" not in refused.variables


def test_agent_node_takes_only_its_own_results() -> None:
    flow, _ = load_flow(str(REPO / "config" / "flows" / "agents.yaml"))
    assert flow is not None
    m = FlowMachine(flow, entry="*2", call_id="c")
    assert m.start() == AgentChange("logout", "")
    with pytest.raises(UnexpectedResult):
        m.send(Completed())


def test_start_at_a_node_begins_there_instead_of_the_entry(flow: Flow) -> None:
    """start(at=node) begins the walk at that node, with the call's variables as usual."""
    m = machine(flow, "100")
    assert m.start(at="account") == Collect(
        ("sound:vm-enter-num-to-call",), 4, 6, "#", 4.0, 3.0, True, "en"
    )
    assert m.current == "account"


def test_start_at_an_unknown_node_is_refused(flow: Flow) -> None:
    """start(at=...) with a node the flow lacks raises UnknownEntry."""
    with pytest.raises(UnknownEntry):
        machine(flow, "100").start(at="nowhere")


def test_sample_flow_resumes_after_a_restart_with_an_apology_then_the_menu() -> None:
    """The sample flow's on_restart node apologises, then offers the main menu."""
    flow, _ = load_flow(str(REPO / "config" / "flows" / "main.yaml"))
    assert flow is not None and flow.on_restart == "restart_apology"
    m = machine(flow, "100")
    apology = m.start(at=flow.on_restart)
    assert isinstance(apology, Play) and apology.barge_in
    menu = m.send(PlayDone())
    assert isinstance(menu, Collect) and m.current == "main_menu"


def test_digits_are_said_one_stoppable_sound_each() -> None:
    """A digits: prompt becomes one core sound per key, star and pound included."""
    from callflow.flow.model import SayDigits
    from callflow.flow.prompts import media_for

    assert media_for([SayDigits("1*2#x")], "en-us", lambda _: None) == (
        "sound:digits/1",
        "sound:digits/star",
        "sound:digits/2",
        "sound:digits/pound",
    )


@pytest.mark.parametrize(
    ("number", "words"),
    [
        ("0", "0"),
        ("42", "40 2"),
        ("105", "1 hundred 5"),
        ("1205", "1 thousand 2 hundred 5"),
        ("2345678", "2 million 3 hundred 40 5 thousand 6 hundred 70 8"),
        ("-3", "minus 3"),
    ],
)
def test_english_numbers_are_said_with_core_sounds_as_asterisk_says_them(
    number: str, words: str
) -> None:
    """number: in English is the digits/* sounds Asterisk's English say would play."""
    from callflow.flow.model import SayNumber
    from callflow.flow.prompts import media_for

    expected = tuple(f"sound:digits/{w}" for w in words.split())
    assert media_for([SayNumber(number)], "en-us", lambda _: None, "en") == expected
    assert media_for([SayNumber(number)], "fr", lambda _: None, "fr") == (f"number:{number}",)
