"""The wallboard in a real headless browser (Debian's chromium, driven by Selenium through
chromedriver) against a real ``callflow run``: log in with the token, then a caller who
joins a queue on a real call is on the page within 2 seconds. The screenshot is kept:
``/tmp/callflow-artifacts/wallboard.png``."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service as ChromeService
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from callflow.sandbox import SandboxInfo
from tests.integration.conftest import PhoneFactory, bridged
from tests.integration.test_api import TOKEN, Running, callflow_run

pytestmark = pytest.mark.asterisk

ARTIFACTS = Path("/tmp/callflow-artifacts")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Headless chromium (no sandbox: the tests run as root), a fresh profile."""
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromedriver is missing: run scripts/setup (apt: chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,720",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=ChromeService(CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def figure(driver: WebDriver, queue: str, name: str) -> str:
    """The text of one figure of one queue's card ('' when the card is not there), read in
    one script: the page redraws its cards every second, so an element found in one call
    may be gone by the next."""
    selector = f'section[data-queue="{queue}"] [data-figure="{name}"] .value'
    text = driver.execute_script(
        "const e = document.querySelector(arguments[0]); return e ? e.textContent : '';",
        selector,
    )
    return str(text)


def wait_for(driver: WebDriver, timeout: float, check: object) -> float:
    """Wait until ``check(driver)`` is true; return how long it took (seconds)."""
    started = time.monotonic()
    WebDriverWait(driver, timeout, poll_frequency=0.05).until(check)  # type: ignore[arg-type]
    return time.monotonic() - started


def log_in(driver: WebDriver, running: Running) -> None:
    """Open the page, give the token in its form, wait for the live board."""
    driver.get(running.url + "/wallboard")
    driver.find_element(By.ID, "token").send_keys(TOKEN)
    driver.find_element(By.CSS_SELECTOR, "#login button").click()
    wait_for(driver, 10, lambda d: figure(d, "support", "waiting") == "0")
    assert TOKEN not in driver.current_url


async def test_a_caller_joining_a_queue_is_on_the_wallboard_within_two_seconds(
    asterisk: SandboxInfo,
    phones: PhoneFactory,
    browser: WebDriver,
    tmp_path: Path,
    no_leaks: None,
) -> None:
    """A first caller answered by an agent makes SL today 100%; then, with no agent free,
    a caller in the support queue shows on the page, pushed over its WebSocket, within 2 s
    of their call being answered, their wait counting up; the paused agent shows too; when
    the caller hangs up, the board is back to nobody waiting."""
    async with callflow_run(tmp_path, asterisk) as running, aiohttp.ClientSession() as session:

        async def agent(name: str, **action: str) -> None:
            async with session.post(
                running.url + f"/api/agents/{name}", json=action, headers=running.auth()
            ) as response:
                assert response.status == 200, await response.text()

        await agent("agent3", action="login")
        await agent("agent3", action="pause", reason="lunch")
        await asyncio.to_thread(log_in, browser, running)
        paused = await asyncio.to_thread(
            browser.execute_script,
            "return document.querySelector("
            '\'section[data-queue="support"] [data-state="paused"]\').textContent;',
        )
        assert paused == "paused: 1"

        # A first caller answered at once by agent1: SL today 100%, nobody abandoned.
        agent1 = await phones("agent1", auto_answer=True)
        await agent("agent1", action="login")
        first = await phones("caller2")
        await first.dial("300")
        await agent1.wait_event("CALL_ESTABLISHED", timeout=15)
        await bridged(asterisk, "agent1")
        await asyncio.sleep(0.5)
        await agent1.hangup()
        await asyncio.to_thread(
            wait_for, browser, 8.0, lambda d: figure(d, "support", "sl") == "100.0%"
        )
        assert figure(browser, "support", "abandon_rate") == "0.0%"
        await agent("agent1", action="logout")

        caller = await phones("caller1")
        mark = caller.mark()
        await caller.dial("300")
        await caller.wait_event("CALL_ESTABLISHED", since=mark)
        try:
            took = await asyncio.to_thread(
                wait_for, browser, 2.0, lambda d: figure(d, "support", "waiting") == "1"
            )
        except TimeoutException:
            pytest.fail(f"not on the page within 2 s: {figure(browser, 'support', 'waiting')!r}")
        print(f"the caller was on the wallboard {took:.2f} s after their call was answered")
        # The wait counts up in the page itself, with no message from the server.
        await asyncio.to_thread(
            wait_for, browser, 3.0, lambda d: figure(d, "support", "longest_wait") >= "0:02"
        )

        await asyncio.to_thread(ARTIFACTS.mkdir, parents=True, exist_ok=True)
        shot = tmp_path / "wallboard.png"
        assert await asyncio.to_thread(browser.save_screenshot, str(shot))
        shutil.copy(shot, ARTIFACTS / "wallboard.png")
        print(f"wallboard screenshot: {ARTIFACTS / 'wallboard.png'} (and {shot})")

        await caller.hangup()
        await asyncio.to_thread(
            wait_for, browser, 2.0, lambda d: figure(d, "support", "waiting") == "0"
        )
