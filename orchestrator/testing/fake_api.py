"""A local stand-in for Anthropic's Messages API that answers from a replay script.

`FakeMessagesAPI` is a real HTTP server on 127.0.0.1 (ephemeral port, background
thread) that speaks the API's wire format, so the real `anthropic` SDK can be pointed at
it with `base_url=api.base_url` (or `ANTHROPIC_BASE_URL`) and exercised end to end:
retries, streaming, SSE parsing and tool-input reassembly all run the SDK's own code.

- `POST /v1/messages` takes the next entry of the replay. A message is served as JSON,
  or, when the request has `"stream": true`, as the API's server-sent events
  (`message_start`, `content_block_start`/`_delta`/`_stop`, `message_delta`,
  `message_stop`, with `ping`s); text is cut into several `text_delta`s and a tool's
  input JSON into several `input_json_delta`s. Faults become HTTP errors with the API's
  JSON error body, or an `error` event in the middle of a stream.
- `POST /v1/messages/count_tokens` answers a rough estimate and takes no replay entry.
- A request once the replay is used up gets a 500 `api_error` saying so, marked
  `x-should-retry: false` so the SDK fails at once instead of retrying.

Every request is recorded in `FakeMessagesAPI.requests` (parsed JSON body and a few
headers) so tests can check what the client sent.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from orchestrator.testing.replay import (
    DEFAULT_ERROR_MESSAGES,
    ERROR_STATUSES,
    ErrorType,
    FaultStep,
    HttpFault,
    MessageStep,
    Replay,
    StreamFault,
    TextItem,
    load_replay,
)

log = logging.getLogger(__name__)

MESSAGES_PATH = "/v1/messages"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
MAX_BODY_BYTES = 32 * 1024 * 1024
"""Largest request body read; bigger ones are refused with 413 unread."""
SOCKET_TIMEOUT_S = 10.0
"""How long a connection may sit idle (or a read stall) before the server drops it."""
TEXT_DELTAS = 3
"""Into how many `text_delta` events a text block is cut (fewer if it is shorter)."""
JSON_DELTAS = 4
"""Into how many `input_json_delta` events a tool's input JSON is cut."""
RECORDED_HEADERS = (
    "anthropic-version",
    "anthropic-beta",
    "content-type",
    "accept",
    "user-agent",
    "x-stainless-retry-count",
)
"""Request headers kept in `RecordedRequest.headers` (credentials are never kept)."""

Event = tuple[str, dict[str, Any]]
"""One server-sent event: its name and its JSON data."""
STALL = "(stall)"
"""Not an event: the stream goes silent for ``seconds`` (or until the server closes)."""


@dataclass(frozen=True)
class RecordedRequest:
    """One request the fake received."""

    method: str
    path: str
    headers: dict[str, str]
    """The `RECORDED_HEADERS` that were present, by lower-case name."""
    body: Any
    """The parsed JSON body; None when there was none or it was not JSON."""


def _pieces(text: str, count: int) -> list[str]:
    """Cut `text` into at most `count` consecutive, non-empty, near-equal pieces."""
    if not text:
        return []
    count = max(1, min(count, len(text)))
    size, extra = divmod(len(text), count)
    pieces, start = [], 0
    for number in range(count):
        end = start + size + (1 if number < extra else 0)
        pieces.append(text[start:end])
        start = end
    return pieces


def _estimate_tokens(value: object) -> int:
    """A rough token count (about four characters a token), at least 1."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return max(1, len(text) // 4)


def error_body(kind: ErrorType, message: str | None = None) -> dict[str, Any]:
    """The API's JSON error body for an error of type `kind`."""
    return {
        "type": "error",
        "error": {"type": kind, "message": message or DEFAULT_ERROR_MESSAGES[kind]},
    }


def render_message(
    step: MessageStep, *, message_id: str, model: str, request_body: object
) -> dict[str, Any]:
    """The complete message JSON for `step`, as a non-streaming response carries it."""
    content: list[dict[str, Any]] = []
    for item in step.content:
        if isinstance(item, TextItem):
            content.append({"type": "text", "text": item.text})
        else:
            tool = item.tool_use
            content.append(
                {"type": "tool_use", "id": tool.id, "name": tool.name, "input": tool.input}
            )
    usage = step.usage
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": step.stop_reason,
        "stop_sequence": None,
        "usage": {
            "input_tokens": (
                usage.input_tokens
                if usage.input_tokens is not None
                else _estimate_tokens(request_body)
            ),
            "output_tokens": (
                usage.output_tokens
                if usage.output_tokens is not None
                else _estimate_tokens(content)
            ),
            "cache_creation_input_tokens": usage.cache_creation_input_tokens or 0,
            "cache_read_input_tokens": usage.cache_read_input_tokens or 0,
        },
    }


def _message_start(message: dict[str, Any]) -> Event:
    usage = {**message["usage"], "output_tokens": 1}
    started = {**message, "content": [], "stop_reason": None, "usage": usage}
    return "message_start", {"type": "message_start", "message": started}


def _block_events(index: int, block: dict[str, Any]) -> Iterator[Event]:
    """`content_block_start`, its deltas, `content_block_stop`, for one block."""
    if block["type"] == "text":
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [
            {"type": "text_delta", "text": piece} for piece in _pieces(block["text"], TEXT_DELTAS)
        ]
    else:
        start = {**block, "input": {}}
        partial = json.dumps(block["input"], ensure_ascii=False)
        # The real API opens every tool input with an empty partial_json.
        deltas = [
            {"type": "input_json_delta", "partial_json": piece}
            for piece in ["", *_pieces(partial, JSON_DELTAS)]
        ]
    yield (
        "content_block_start",
        {"type": "content_block_start", "index": index, "content_block": start},
    )
    for delta in deltas:
        yield "content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}
    yield "content_block_stop", {"type": "content_block_stop", "index": index}


def message_events(message: dict[str, Any]) -> Iterator[Event]:
    """The server-sent events that stream `message` (a `render_message` result)."""
    yield _message_start(message)
    yield "ping", {"type": "ping"}
    for index, block in enumerate(message["content"]):
        yield from _block_events(index, block)
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        },
    )
    yield "message_stop", {"type": "message_stop"}


def fault_events(fault: StreamFault, *, message_id: str, model: str) -> Iterator[Event]:
    """A stream that breaks: `message_start`, maybe some text, then an `error` event."""
    usage = {"input_tokens": 1, "output_tokens": 1}
    message: dict[str, Any] = {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    yield _message_start(message)
    yield "ping", {"type": "ping"}
    if fault.partial_text:
        block = {"type": "text", "text": fault.partial_text}
        # Everything but content_block_stop: the block is cut off mid-way.
        for event in _block_events(0, block):
            if event[0] != "content_block_stop":
                yield event
    if fault.hang_s:
        yield STALL, {"seconds": fault.hang_s}
    yield "error", error_body(fault.stream_error, fault.message)


class _Server(ThreadingHTTPServer):
    """The HTTP server, knowing its `FakeMessagesAPI` and its open connections."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: FakeMessagesAPI, host: str) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        self.closing = threading.Event()  # set when the server stops: stalls end
        super().__init__((host, 0), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Cut every open connection, so no handler thread outlives the server."""
        self.closing.set()
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    """Answers one connection's requests (HTTP/1.1, keep-alive)."""

    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    disable_nagle_algorithm = True  # each SSE event leaves at once, no 40 ms ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("fake_api %s: " + format, self.address_string(), *args)

    # -- responses ---------------------------------------------------------------------

    def _send_json(self, status: int, body: object, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.send_header("request-id", self.server.fake.next_request_id())
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_error(
        self,
        status: int,
        kind: ErrorType,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send_json(status, error_body(kind, message), headers)

    def _send_events(self, events: Iterator[Event]) -> None:
        """HTTP 200 and the events as `text/event-stream`, one chunk per event."""
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("request-id", self.server.fake.next_request_id())
        self.end_headers()
        for name, data in events:
            if name == STALL:
                self.server.closing.wait(data["seconds"])
                continue
            chunk = f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")

    def _send_fault(self, fault: HttpFault) -> None:
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            seconds = fault.retry_after
            headers["retry-after"] = str(int(seconds)) if seconds.is_integer() else str(seconds)
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = str(fault.retry_after_ms)
        if fault.should_retry is not None:
            headers["x-should-retry"] = "true" if fault.should_retry else "false"
        self._send_error(fault.status, fault.kind, fault.message, headers)

    # -- requests ----------------------------------------------------------------------

    def _read_body(self) -> tuple[bool, Any]:
        """Read the JSON body: (True, parsed or None), or (False, None) if refused."""
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self.close_connection = True
            self._send_error(411, "invalid_request_error", "a content-length is required")
            return False, None
        try:
            length = int(self.headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._send_error(400, "invalid_request_error", "bad content-length")
            return False, None
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send_error(413, "request_too_large")
            return False, None
        raw = self.rfile.read(length) if length else b""
        try:
            return True, json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            return True, None

    def do_POST(self) -> None:
        try:
            self._answer_post()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True  # the client went away; nothing to answer

    def _answer_post(self) -> None:
        ok, body = self._read_body()
        if not ok:
            return
        path = self.path.split("?", 1)[0]
        headers = {
            name: value
            for name in RECORDED_HEADERS
            if (value := self.headers.get(name)) is not None
        }
        self.server.fake.record(RecordedRequest("POST", path, headers, body))
        if path == MESSAGES_PATH:
            self._answer_messages(body)
        elif path == COUNT_TOKENS_PATH:
            self._answer_count_tokens(body)
        else:
            self._send_error(404, "not_found_error", f"no route for POST {path}")

    def do_GET(self) -> None:
        self.server.fake.record(RecordedRequest("GET", self.path, {}, None))
        self._send_error(404, "not_found_error", f"no route for GET {self.path}")

    def _check_messages_body(self, body: Any) -> str | None:
        """What is wrong with a Messages request body, or None."""
        if not isinstance(body, dict):
            return "the body must be a JSON object"
        if not isinstance(body.get("model"), str):
            return "model: field required"
        if not isinstance(body.get("messages"), list):
            return "messages: field required"
        return None

    def _answer_count_tokens(self, body: Any) -> None:
        problem = self._check_messages_body(body)
        if problem:
            self._send_error(400, "invalid_request_error", problem)
            return
        self._send_json(200, {"input_tokens": _estimate_tokens(body)})

    def _answer_messages(self, body: Any) -> None:
        problem = self._check_messages_body(body)
        if problem is None and not isinstance(body.get("max_tokens"), int):
            problem = "max_tokens: field required"
        if problem:
            self._send_error(400, "invalid_request_error", problem)
            return
        fake = self.server.fake
        taken = fake.take_step(str(body["model"]))
        if taken is None:
            lane = fake.replay.lane(str(body["model"]))
            why = (
                f"replay exhausted: all {len(lane)} responses were served, and another request came"
            )
            self._send_error(500, "api_error", why, {"x-should-retry": "false"})
            return
        number, step = taken
        message_id = f"msg_replay_{number:04d}"
        model = fake.replay.model or body["model"]
        streaming = body.get("stream") is True
        if isinstance(step, FaultStep):
            fault = step.fault
            if isinstance(fault, HttpFault):
                self._send_fault(fault)
            elif streaming:
                self._send_events(fault_events(fault, message_id=message_id, model=model))
            else:
                status = ERROR_STATUSES.get(fault.stream_error, 500)
                self._send_error(status, fault.stream_error, fault.message)
            return
        message = render_message(step, message_id=message_id, model=model, request_body=body)
        if streaming:
            self._send_events(message_events(message))
        else:
            self._send_json(200, message)


class FakeMessagesAPI:
    """A fake Messages API on loopback serving `replay`; use it as a context manager.

    >>> with FakeMessagesAPI(replay) as api:           # doctest: +SKIP
    ...     client = anthropic.Anthropic(api_key="test", base_url=api.base_url)
    """

    def __init__(self, replay: Replay, *, host: str = "127.0.0.1") -> None:
        self.replay = replay
        self._host = host
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._served = 0
        self._taken: dict[int, int] = {}  # answers taken from each lane, by the lane's id
        self._request_ids = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @classmethod
    def from_file(cls, path: str | Path) -> FakeMessagesAPI:
        """A fake serving the replay file at `path` (raises `ReplayError` if invalid)."""
        return cls(load_replay(path))

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Bind an ephemeral port and serve in a daemon thread."""
        if self._server is not None:
            raise RuntimeError("FakeMessagesAPI is already started")
        self._server = _Server(self, self._host)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.01},
            name=f"fake-messages-api:{self.port}",
            daemon=True,
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving, cut open connections and free the port. Safe to call twice."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._server = self._thread = None
        server.shutdown()
        server.drop_connections()
        server.server_close()
        thread.join(timeout=5)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- what tests look at ------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError("FakeMessagesAPI is not started")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """What to pass as the SDK's `base_url` (or set as `ANTHROPIC_BASE_URL`)."""
        return f"http://{self._host}:{self.port}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def message_requests(self) -> list[RecordedRequest]:
        """The `POST /v1/messages` requests received so far, oldest first."""
        return [r for r in self.requests if r.path == MESSAGES_PATH]

    @property
    def served(self) -> int:
        """How many replay entries have been served."""
        with self._lock:
            return self._served

    @property
    def remaining(self) -> int:
        """How many replay entries are left."""
        return self.replay.total - self.served

    # -- used by the handler -----------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        """Keep `request` in `requests`."""
        with self._lock:
            self._requests.append(request)

    def take_step(self, model: str = "") -> tuple[int, MessageStep | FaultStep] | None:
        """The next entry of ``model``'s lane (the main list unless the replay has a lane
        for it) and its 1-based number overall, or None when that lane is used up."""
        with self._lock:
            lane = self.replay.lane(model)
            taken = self._taken.get(id(lane), 0)
            if taken >= len(lane):
                return None
            self._taken[id(lane)] = taken + 1
            self._served += 1
            return self._served, lane[taken]

    def next_request_id(self) -> str:
        """A fresh `request-id` header value."""
        with self._lock:
            self._request_ids += 1
            return f"req_replay_{self._request_ids:04d}"
