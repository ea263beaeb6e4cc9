"""The playground page in a real browser (Debian's Chromium, driven by Playwright).

It runs against the shared session server, which has an API key: the page itself is
public, its requests are not. AHA_SCREENSHOT=PATH saves the README's screenshot.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator

import httpx
import psutil
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import API_KEY, RunningServer
from tests.test_api_http import generated_tokens, wait_until_idle

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT_MS = 90_000  # generous: only a hang fails, never a slow machine
QUESTION = "What is 457 + 386?"

expect.set_options(timeout=TIMEOUT_MS)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed "
                                "(launch/install.sh installs it when run as root)")


@pytest.fixture(scope="module")
def browser_page(server: RunningServer) -> Iterator[Page]:
    # The browser shares this machine's 2 cores with the engine, which uses them fully
    # while it generates: Chromium's renderer then gets its stream in one burst at the
    # end (in about half the runs here). A user's browser runs elsewhere; to behave more
    # like one, the server's processes yield the CPU to the browser during these tests.
    server_processes = [psutil.Process(server.process.pid),
                        *psutil.Process(server.process.pid).children(recursive=True)]
    renice(server_processes, 10)
    with sync_playwright() as playwright:
        # --no-sandbox: the suite runs as root in CI, where Chromium's sandbox refuses.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 390, "height": 844})  # a phone's width
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{server.base_url}/")
        yield page
        browser.close()
    with contextlib.suppress(OSError):  # raising priority back needs root
        renice(server_processes, 0)


def renice(processes: list[psutil.Process], niceness: int) -> None:
    """Every thread of these processes: Linux keeps a niceness per thread, and
    `Process.nice` sets only the main thread's, which left the engine worker's compute
    threads at full priority (the Stop test then found its request finished before the
    starved renderer could click: CI, 2 Dec)."""
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            for thread in process.threads():
                with contextlib.suppress(ProcessLookupError):
                    os.setpriority(os.PRIO_PROCESS, thread.id, niceness)


def ask(page: Page, question: str = QUESTION, **settings: str) -> None:
    """Starts a new chat with these settings and sends one question with the Enter key."""
    page.click("#clear")
    for field in ("min-thinking", "max-thinking", "max-waits", "wait-text"):
        page.fill(f"#{field}", settings.get(field.replace("-", "_"), ""))
    page.fill("#max-tokens", settings.get("max_tokens", "1000"))
    page.fill("#message", question)
    page.press("#message", "Enter")


def last_turn(page: Page, part: str) -> str:
    return f"#conversation article.assistant:last-of-type {part}"


def test_without_the_key_the_request_fails_clearly(browser_page: Page) -> None:
    page = browser_page
    page.fill("#api-key", "")
    ask(page)
    error = page.locator(last_turn(page, ".error"))
    expect(error).to_contain_text("401")
    expect(error).to_contain_text("API key")


def test_thinking_folds_when_the_answer_comes(browser_page: Page) -> None:
    page = browser_page
    page.fill("#api-key", API_KEY)
    # Not asserted: that the block was seen open while thinking streamed. On this
    # machine the renderer is sometimes starved until the stream ends (see the fixture)
    # and then everything lands in one burst; the end state is what is checked.
    ask(page, min_thinking="300", max_waits="2")
    expect(page.locator(last_turn(page, ".answer"))).to_contain_text("843")
    expect(page.locator(last_turn(page, ".thinking"))).not_to_have_attribute("open", "")
    expect(page.locator(last_turn(page, ".thinking summary"))).to_contain_text("Thought for")
    expect(page.locator(last_turn(page, ".thinking .text"))).to_contain_text("457")
    stats = page.locator(last_turn(page, ".stats"))
    expect(stats).to_contain_text("first answer token")
    expect(stats).to_contain_text("reasoning")
    # The key lives in the page's memory only.
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0
    assert page.evaluate("document.cookie") == ""
    if path := os.environ.get("AHA_SCREENSHOT"):  # the README's picture: thinking unfolded
        page.set_viewport_size({"width": 1000, "height": 760})
        page.locator("#settings-panel summary").click()
        page.locator(last_turn(page, ".thinking summary")).click()
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=path)
        page.locator(last_turn(page, ".thinking summary")).click()
        page.locator("#settings-panel summary").click()
        page.set_viewport_size({"width": 390, "height": 844})


def test_a_cap_closes_thinking_and_the_model_still_answers(browser_page: Page) -> None:
    page = browser_page
    ask(page, max_thinking="16")
    expect(page.locator(last_turn(page, ".stats"))).to_contain_text("forced close yes")  # done
    expect(page.locator(last_turn(page, "mark.inserted.close"))).to_contain_text("forced close")
    expect(page.locator(last_turn(page, ".answer"))).not_to_be_empty()


def test_a_minimum_makes_the_model_wait_and_think_on(browser_page: Page) -> None:
    page = browser_page
    ask(page, min_thinking="400", max_waits="3")
    expect(page.locator(last_turn(page, ".stats"))).to_contain_text("waits")
    expect(page.locator(last_turn(page, "mark.inserted.wait")).first).to_contain_text("Wait")
    expect(page.locator(last_turn(page, ".answer"))).not_to_be_empty()


def test_stop_aborts_the_request_in_the_engine(browser_page: Page, http: httpx.Client) -> None:
    page = browser_page
    before = generated_tokens(http)
    ask(page, min_thinking="3000", max_waits="1000", max_tokens="3500")
    deadline_s = time.monotonic() + 60  # a hang guard: the request reaches the engine
    while http.get("/health").json()["requests_in_flight"] == 0:
        assert time.monotonic() < deadline_s, "the page's request never reached the engine"
        time.sleep(0.05)
    page.click("#stop")
    expect(page.locator(last_turn(page, ".stats"))).to_have_text("stopped")
    wait_until_idle(http)
    assert generated_tokens(http) - before < 3500  # aborted, not run to its end
    expect(page.locator("#send")).to_be_enabled()
