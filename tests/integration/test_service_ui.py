"""The page `airlock serve` serves at /ui, in a real browser: Debian's chromium, headless,
driven by Playwright (never Playwright's own browsers), against a real `airlock serve`
on loopback whose runs run in real sandboxes.

What the page shows comes from the attacker (commands, file names, the model's text):
the hostile-string test checks it stays text, and the approval tests click the buttons
a person clicks and read the run's events to see the run go on."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
import time
from collections.abc import Iterator

import httpx
import pytest
import yaml
from playwright.sync_api import Browser, ConsoleMessage, Page, Route, sync_playwright

from tests.integration.service_process import Service, start_service, stop_service

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

CHROMIUM_NAMES = ("chromium", "chromium-browser")
HOSTILE = '<img src=x onerror="window.__pwned=1">'
BIDI = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: shows text in another order than it runs
QUICK_MS = 15_000  # what the page must show within, once it is there to show


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.fail(
        "no chromium on PATH: the page's tests drive Debian's chromium. `make setup` "
        "installs it (scripts/ensure-engine.sh), or: apt-get install -y chromium"
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """One service for the module, taking replay scripts; each test has its tenant."""
    running = start_service(tmp_path_factory.mktemp("service-ui") / "state", 8, "--allow-replay")
    yield running
    stop_service(running)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = _chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True)
        yield launched
        launched.close()


class Console:
    """What the page logs as an error, and the exceptions it throws."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        page.on("console", self._message)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _message(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser context (its own sessionStorage) and page."""
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(QUICK_MS)
    yield opened
    context.close()


def _open(page: Page, service: Service, token: str) -> Console:
    console = Console(page)
    page.goto(f"http://127.0.0.1:{service.port}/ui")
    page.get_by_test_id("token").fill(token)
    page.get_by_test_id("token-use").click()
    return console


def test_the_page_loads_with_its_headers_and_shows_whom_the_token_is(
    service: Service, page: Page
) -> None:
    approver = service.token("ui-page", "approver")
    console = Console(page)
    loaded = page.goto(f"http://127.0.0.1:{service.port}/ui")
    assert loaded is not None and loaded.status == 200
    headers = loaded.headers
    policy = headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                      "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'",
                      "form-action 'none'", "require-trusted-types-for 'script'"):  # fmt: skip
        assert directive in policy, (directive, policy)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    for asset in ("app.js", "app.css"):
        answer = service.call("GET", f"/ui/{asset}")
        assert answer.status == 200 and answer.headers["x-content-type-options"] == "nosniff"
    assert service.call("GET", "/ui/app.py").status == 404
    assert "/ui" not in service.call("GET", "/openapi.json").json()["paths"]  # type: ignore[index]
    # no inline script or style, no event-handler attributes: the CSP would block them
    assert page.locator("script:not([src]), style, [style]").count() == 0
    assert page.evaluate("document.querySelectorAll('[onclick],[onload],[onerror]').length") == 0

    page.get_by_test_id("token").fill(approver)
    page.get_by_test_id("token-use").click()
    page.get_by_test_id("whoami-tenant").wait_for()
    assert page.get_by_test_id("whoami-tenant").text_content() == "ui-page"
    assert page.get_by_test_id("whoami-role").text_content() == "approver"
    assert page.get_by_test_id("token").input_value() == ""  # not left on show
    assert approver not in page.url
    page.get_by_test_id("runs-empty").wait_for()
    page.wait_for_timeout(2500)  # a round of both polls
    assert page.evaluate("sessionStorage.getItem('airlock.token')") == approver
    assert page.evaluate("localStorage.length") == 0
    assert page.get_by_test_id("approvals-empty").is_visible()

    page.reload()  # the tab keeps the token
    page.get_by_test_id("whoami-tenant").wait_for()
    page.get_by_test_id("token-forget").click()
    assert page.get_by_test_id("whoami").text_content() == "no token"
    assert page.evaluate("sessionStorage.getItem('airlock.token')") is None
    assert console.errors == []


def test_a_token_the_service_does_not_know_is_said_so_and_polling_stops(
    service: Service, page: Page
) -> None:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    console = _open(page, service, "alk_not-a-token")
    status = page.get_by_test_id("status")
    status.filter(has_text="does not take this token").wait_for()
    seen = len([url for url in requests if "/v1/" in url])
    page.wait_for_timeout(2500)  # the polls' next round asks nothing
    assert len([url for url in requests if "/v1/" in url]) == seen
    assert all("401" in error for error in console.errors), console.errors  # the answers


def _repo_tarball() -> bytes:
    """A small project as the runs API takes it (.tar.gz)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        readme = b"# a project\n"
        info = tarfile.TarInfo("README.md")
        info.size = len(readme)
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(readme))
    return gzip.compress(buffer.getvalue())


def _replay(text: str, command: str) -> str:
    """A model that says ``text``, asks to run ``command`` (which `dev` answers ask),
    then ends its turn."""
    script = {
        "model": "claude-sonnet-4-6",
        "responses": [
            {
                "content": [
                    {"text": text},
                    {"tool_use": {"name": "Bash", "input": {"command": command}}},
                ],
                "usage": {"input_tokens": 100, "output_tokens": 20},
            },
            {"content": [{"text": "Done."}], "usage": {"input_tokens": 150, "output_tokens": 5}},
        ],
    }
    return yaml.safe_dump(script)


def _start_run(service: Service, token: str, task: str, replay: str) -> str:
    spec = {"task": task, "policy": "dev", "replay": replay, "approval_timeout_s": 60}
    answer = httpx.post(
        f"http://127.0.0.1:{service.port}/v1/runs",
        headers={"Authorization": f"Bearer {token}"},
        files={"repo": ("repo.tar.gz", _repo_tarball(), "application/gzip")},
        data={"spec": json.dumps(spec)},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


def _run_ended(
    service: Service, token: str, run_id: str, within_s: float = 60
) -> dict[str, object]:
    deadline = time.monotonic() + within_s
    while True:
        run = service.call("GET", f"/v1/runs/{run_id}", token).json()
        assert isinstance(run, dict)
        if run["state"] not in ("queued", "running"):
            return run
        assert time.monotonic() < deadline, f"run {run_id} still {run['state']}"
        time.sleep(0.3)


def _run_events(service: Service, token: str, run_id: str) -> list[tuple[str, dict[str, object]]]:
    """The ended run's events (the stream closes after ``run_end``): (type, data) each."""
    answer = service.call("GET", f"/v1/runs/{run_id}/events", token)
    assert answer.status == 200, answer.body
    events = []
    for block in answer.body.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "data" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def _approval_card(page: Page, run_id: str) -> str:
    """The id of the run's pending approval, once the page shows it."""
    card = page.locator(f'[data-testid="approval"][data-run-id="{run_id}"]')
    card.wait_for()
    approval_id = card.get_attribute("data-approval-id")
    assert approval_id and approval_id.startswith("apr_")
    return approval_id


def test_a_person_approves_in_the_page_and_the_run_goes_on(service: Service, page: Page) -> None:
    runner = service.token("ui-approve", "runner")
    approver = service.token("ui-approve", "approver")
    command = "git push origin main"
    run_id = _start_run(service, runner, "push the fix", _replay("Pushing.", command))
    console = _open(page, service, service.token("ui-approve", "viewer"))
    approval_id = _approval_card(page, run_id)
    card = page.locator(f'[data-approval-id="{approval_id}"]')
    page.get_by_test_id("whoami-role").filter(has_text="viewer").wait_for()
    assert card.get_by_test_id("approve").is_disabled()  # a viewer may read, not answer
    page.get_by_test_id("token").fill(approver)  # another token, in the same tab
    page.get_by_test_id("token-use").click()
    page.get_by_test_id("whoami-role").filter(has_text="approver").wait_for()
    assert _approval_card(page, run_id) == approval_id
    assert card.get_by_test_id("approval-command").text_content() == command
    assert "high" in (card.get_by_test_id("approval-risk").text_content() or "")
    assert "S28" in (card.get_by_test_id("finding").first.text_content() or "")
    card.get_by_test_id("approve").click()
    card.wait_for(state="detached")  # gone from the pending list
    assert "Approved" in (page.get_by_test_id("status").text_content() or "")

    run = _run_ended(service, runner, run_id)
    assert run["state"] == "finished", run
    events = _run_events(service, runner, run_id)
    kinds = [kind for kind, _ in events]
    assert "approval_requested" in kinds and kinds[-1] == "run_end"
    (approval,) = [data for kind, data in events if kind == "approval"]
    assert approval["approved"] is True and approval["by"] == "person", approval
    (call,) = [data for kind, data in events if kind == "tool_call"]
    assert call["input"] == {"command": command}
    results = [data for kind, data in events if kind == "tool_result"]
    assert [r["call_id"] for r in results] == [call["call_id"]]
    assert "approval" not in str(results[0]["content"]).lower()  # it ran, not refused
    answered = service.call("GET", "/v1/approvals?state=allowed", runner).json()
    assert [a["id"] for a in answered["items"]] == [approval_id]  # type: ignore[index]
    assert answered["items"][0]["reason"] == "from the web page"  # type: ignore[index]

    # The run's events in the page: all of them, in order, to its end.
    page.locator(f'[data-testid="run"][data-run-id="{run_id}"]').click()
    page.locator('[data-testid="events-state"][data-state="ended"]').wait_for()
    shown = page.locator('[data-testid="event"]')
    types = shown.evaluate_all("lines => lines.map(line => line.dataset.type)")
    assert types[0] == kinds[0] and types[-1] == "run_end"
    assert "approval" in types and "tool_result" in types
    assert console.errors == []


def test_a_denial_in_the_page_refuses_the_command_and_allow_prefix_is_sent(
    service: Service, page: Page
) -> None:
    """Deny on one run; on another, Approve with "commands starting with git push"."""
    runner = service.token("ui-deny", "runner")
    approver = service.token("ui-deny", "approver")
    denied_run = _start_run(service, runner, "push", _replay("Pushing.", "git push origin main"))
    console = _open(page, service, approver)
    denied = _approval_card(page, denied_run)
    page.locator(f'[data-approval-id="{denied}"]').get_by_test_id("deny").click()
    assert _run_ended(service, runner, denied_run)["state"] == "finished"
    events = _run_events(service, runner, denied_run)
    (approval,) = [data for kind, data in events if kind == "approval"]
    assert approval["approved"] is False
    (result,) = [data for kind, data in events if kind == "tool_result"]
    assert result["is_error"] is True

    prefixed_run = _start_run(service, runner, "push", _replay("Again.", "git push origin main"))
    prefixed = _approval_card(page, prefixed_run)
    card = page.locator(f'[data-approval-id="{prefixed}"]')
    card.get_by_test_id("allow-prefix").fill("git push")
    assert card.get_by_test_id("allow-prefix-on").is_checked()
    card.get_by_test_id("approve").click()
    card.wait_for(state="detached")
    allowed = service.call("GET", "/v1/approvals?state=allowed", runner).json()
    assert [(a["id"], a["allow_prefix"]) for a in allowed["items"]] == [(prefixed, "git push")]  # type: ignore[index]
    assert _run_ended(service, runner, prefixed_run)["state"] == "finished"
    assert console.errors == []


def test_hostile_strings_in_a_run_and_its_approval_show_as_text(
    service: Service, page: Page
) -> None:
    """The task, the model's text and the command carry markup and a bidi override: the
    page shows them as the characters they are, and builds no element from them."""
    runner = service.token("ui-hostile", "runner")
    approver = service.token("ui-hostile", "approver")
    task = f"fix {HOSTILE} it{BIDI}txt.exe"
    command = f"git push origin '{HOSTILE}'"
    run_id = _start_run(service, runner, task, _replay(f"Say {HOSTILE}{BIDI}!", command))
    console = _open(page, service, approver)
    approval_id = _approval_card(page, run_id)
    card = page.locator(f'[data-approval-id="{approval_id}"]')
    assert card.get_by_test_id("approval-command").text_content() == command
    row = page.locator(f'[data-testid="run"][data-run-id="{run_id}"]')
    assert row.get_by_test_id("run-task").text_content() == "fix " + HOSTILE + " it\\u202etxt.exe"
    row.click()  # its live events, while it waits for the approval
    page.locator('[data-testid="event"][data-type="approval_requested"]').wait_for()
    delta = page.locator('[data-testid="event"][data-type="text_delta"]').first
    assert HOSTILE + "\\u202e!" in (delta.text_content() or "")
    assert page.locator("img").count() == 0  # no element was made of the markup
    assert page.evaluate("window.__pwned") is None
    card.get_by_test_id("deny").click()
    card.wait_for(state="detached")
    page.locator('[data-testid="events-state"][data-state="ended"]').wait_for(timeout=60_000)
    assert page.locator("img").count() == 0
    assert page.evaluate("window.__pwned") is None
    assert console.errors == []


def test_the_event_stream_resumes_from_the_last_event_it_read(service: Service, page: Page) -> None:
    """The first events response is cut short after a few events (as a dropped
    connection cuts it): the page asks again with Last-Event-ID and shows every event
    once, in order."""
    runner = service.token("ui-resume", "runner")
    run_id = _start_run(service, runner, "run", _replay("Hello.", "echo hi"))
    assert _run_ended(service, runner, run_id)["state"] == "finished"
    everything = _run_events(service, runner, run_id)
    assert len(everything) >= 5

    asked: list[str | None] = []

    def cut_first(route: Route) -> None:
        asked.append(route.request.headers.get("last-event-id"))
        if len(asked) > 1:
            route.continue_()
            return
        whole = route.fetch()
        blocks = whole.body().decode().split("\n\n")
        route.fulfill(response=whole, body="\n\n".join(blocks[:3]) + "\n\n")

    page.route(f"**/v1/runs/{run_id}/events", cut_first)
    console = _open(page, service, runner)
    page.locator(f'[data-testid="run"][data-run-id="{run_id}"]').click()
    page.locator('[data-testid="events-state"][data-state="ended"]').wait_for()
    assert asked == [None, "3"]
    ids = page.locator('[data-testid="event"]').evaluate_all(
        "lines => lines.map(line => Number(line.dataset.eventId))"
    )
    assert ids == sorted(set(ids)) and ids[-1] == len(everything)
    assert console.errors == []
