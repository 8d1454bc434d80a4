"""`GET /ui`: the browser page (whoami, runs and their live events, pending approvals
with Approve and Deny), three static files shipped as package data (``ui/``), no build
step and nothing from another origin.

The page shows what the attacker wrote (commands, file names, the model's text), so it
renders every string as text, never as HTML (``ui/app.js``), and its answers carry a
Content-Security-Policy that allows scripts, styles and requests from this origin only,
no inline code, no framing, and Trusted Types for the HTML sinks (an ``innerHTML`` of a
string throws). The token the user pastes stays in the tab's sessionStorage and goes
out only as an ``Authorization`` header, never in a URL.
"""

from __future__ import annotations

import functools
from importlib import resources

from fastapi import APIRouter, HTTPException
from fastapi.responses import Response

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "object-src 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}
FILES = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

router = APIRouter(prefix="/ui", include_in_schema=False)


@functools.cache
def _content(name: str) -> bytes:
    """A file of the page, read once from the installed package."""
    return (resources.files("orchestrator.service") / "ui" / name).read_bytes()


def _serve(name: str) -> Response:
    return Response(_content(name), media_type=FILES[name], headers=SECURITY_HEADERS)


@router.get("")
async def page() -> Response:
    """The page."""
    return _serve("index.html")


@router.get("/{name}")
async def asset(name: str) -> Response:
    """The page's script, style sheet and icon; 404 for any other name."""
    if name not in FILES or name == "index.html":
        raise HTTPException(404, f"no file {name} in the page")
    return _serve(name)
