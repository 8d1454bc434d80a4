"""The page's files, as `airlock serve` answers them at /ui: from the installed package,
with the security headers, and written so that nothing on the page parses a string as
HTML or runs inline code (the browser test, tests/integration/test_service_ui.py, shows
the page working)."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from orchestrator.service import ui_api


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    app.include_router(ui_api.router)
    return TestClient(app)


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/ui", "text/html"), ("/ui/app.js", "text/javascript"), ("/ui/app.css", "text/css"),
     ("/ui/favicon.svg", "image/svg+xml")],
)  # fmt: skip
def test_each_file_comes_with_the_security_headers(
    client: TestClient, path: str, kind: str
) -> None:
    answer = client.get(path)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith(kind)
    policy = answer.headers["content-security-policy"]
    assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "require-trusted-types-for 'script'" in policy and "unsafe" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("name", ["index.html", "app.py", "..%2Fapp.py", "ui_api.py", "x"])
def test_no_other_file_is_served(client: TestClient, name: str) -> None:
    assert client.get(f"/ui/{name}").status_code == 404


def _shipped(name: str) -> str:
    return (resources.files("orchestrator.service") / "ui" / name).read_text()


def test_the_script_never_parses_a_string_as_html_or_code() -> None:
    # its code, without the comments (which name what it does not use)
    script = re.sub(r"/\*[\s\S]*?\*/|^\s*//.*$", "", _shipped("app.js"), flags=re.MULTILINE)
    assert "textContent" in script and "createElement" in script
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "srcdoc", "DOMParser", "createContextualFragment"):  # fmt: skip
        assert sink not in script, sink
    assert "localStorage" not in script  # the token is the tab's only (sessionStorage)
    assert re.search(r"setAttribute\(\s*[\"']on", script) is None


def test_the_page_has_no_inline_script_style_or_handler() -> None:
    page = _shipped("index.html")
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None
    assert "<style" not in page and " style=" not in page
    assert re.search(r"\son[a-z]+\s*=", page) is None
    assert re.findall(r'(?:src|href)="([^"]+)"', page) == [
        "/ui/favicon.svg",
        "/ui/app.css",
        "/ui/app.js",
    ]
