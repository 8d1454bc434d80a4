"""A client of `airlock serve` (on httpx): sessions and their execs, runs and
approvals over HTTP.

Every call carries the token; an answer that is not a success raises `ServiceError`
with its status and the service's words. An exec's or a run's events come as they are
streamed (server-sent events), and can be read again from any event id.
"""

from __future__ import annotations

import base64
import io
import json
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx
from pydantic import BaseModel

DEFAULT_TIMEOUT_S = 60.0


class ServiceError(Exception):
    """The service answered with an error (or could not be reached: status 0)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}" if status else detail)
        self.status = status
        self.detail = detail


class ExecEvent(BaseModel):
    """One event of an exec: ``output``, ``truncated`` or ``exit``."""

    id: int
    kind: str
    data: dict[str, Any]

    @property
    def output(self) -> bytes:
        """An output event's bytes (empty for the others)."""
        encoded = self.data.get("data_b64")
        return base64.b64decode(encoded) if self.kind == "output" and encoded else b""


class AirlockClient:
    """A connection to one service with one token."""

    def __init__(self, url: str, token: str, timeout: float = DEFAULT_TIMEOUT_S) -> None:
        self._http = httpx.Client(
            base_url=url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(timeout, read=None),  # a stream may wait long for output
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def whoami(self) -> dict[str, Any]:
        return self._json("GET", "/v1/whoami")

    def create_session(
        self,
        image: str = "airlock/dev",
        runtime: str = "runc",
        policy: str = "read-only",
        allow_hosts: list[str] | None = None,
    ) -> str:
        """Start a session; its id."""
        body = {"image": image, "runtime": runtime, "policy": policy,
                "allow_hosts": allow_hosts or []}  # fmt: skip
        return str(self._json("POST", "/v1/sessions", json=body)["id"])

    def session(self, session_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/sessions/{session_id}")

    def delete_session(self, session_id: str) -> None:
        self._request("DELETE", f"/v1/sessions/{session_id}").close()

    def exec(
        self,
        session_id: str,
        command: str,
        timeout: float | None = None,
        exec_id: str | None = None,
    ) -> Iterator[ExecEvent]:
        """Run ``command`` in the session; its events as the service streams them."""
        body: dict[str, Any] = {"command": command}
        if timeout is not None:
            body["timeout"] = timeout
        if exec_id is not None:
            body["exec_id"] = exec_id
        return self._events("POST", f"/v1/sessions/{session_id}/exec", json=body)

    def exec_events(self, session_id: str, exec_id: str, after: int = 0) -> Iterator[ExecEvent]:
        """An exec's events after id ``after``, then live ones until its exit."""
        path = f"/v1/sessions/{session_id}/execs/{exec_id}/events"
        return self._events("GET", path, headers={"Last-Event-ID": str(after)})

    def create_run(
        self, repo: Path, spec: dict[str, Any], skip: frozenset[str] = frozenset()
    ) -> dict[str, Any]:
        """Upload ``repo`` (a folder; paths relative to it in ``skip`` left out) and
        queue a run of ``spec``; the service's answer (``id``, ``state``, queue place)."""
        archive = pack_repo(repo, skip)
        files = {"repo": ("repo.tar.gz", archive, "application/gzip")}
        return self._json("POST", "/v1/runs", files=files, data={"spec": json.dumps(spec)})

    def run(self, run_id: str) -> dict[str, Any]:
        return self._json("GET", f"/v1/runs/{run_id}")

    def run_events(self, run_id: str, after: int = 0) -> Iterator[ExecEvent]:
        """A run's events after id ``after``, live until its last, ``run_end``."""
        return self._events("GET", f"/v1/runs/{run_id}/events",
                            headers={"Last-Event-ID": str(after)})  # fmt: skip

    def run_patch(self, run_id: str) -> str:
        response = self._request("GET", f"/v1/runs/{run_id}/patch")
        try:
            return response.read().decode("utf-8", errors="replace")
        finally:
            response.close()

    def cancel_run(self, run_id: str) -> dict[str, Any]:
        return self._json("POST", f"/v1/runs/{run_id}/cancel")

    def approvals(self, state: str | None = "pending") -> list[dict[str, Any]]:
        params = {"state": state} if state else {}
        return list(self._json("GET", "/v1/approvals", params=params)["items"])

    def answer_approval(
        self, approval_id: str, allow: bool, reason: str = "", allow_prefix: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"decision": "allow" if allow else "deny", "reason": reason}
        if allow_prefix is not None:
            body["allow_prefix"] = allow_prefix
        return self._json("POST", f"/v1/approvals/{approval_id}", json=body)

    def _json(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        response = self._request(method, path, **options)
        try:
            found: dict[str, Any] = json.loads(response.read())
        finally:
            response.close()
        return found

    def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            response = self._http.send(self._http.build_request(method, path, **options),
                                       stream=True)  # fmt: skip
        except httpx.HTTPError as exc:
            raise ServiceError(0, f"cannot reach the service: {exc}") from None
        if response.is_success:
            return response
        try:
            detail = json.loads(response.read()).get("detail", response.reason_phrase)
        except (ValueError, AttributeError):
            detail = response.reason_phrase
        finally:
            response.close()
        raise ServiceError(response.status_code, str(detail))

    def _events(self, method: str, path: str, **options: Any) -> Iterator[ExecEvent]:
        response = self._request(method, path, **options)
        try:
            fields: dict[str, str] = {}
            for line in response.iter_lines():
                if line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                    continue
                if fields:
                    yield ExecEvent(id=int(fields["id"]), kind=fields["event"],
                                    data=json.loads(fields["data"]))  # fmt: skip
                    fields = {}
        except httpx.HTTPError as exc:
            raise ServiceError(0, f"the stream broke: {exc}") from None
        finally:
            response.close()


def pack_repo(repo: Path, skip: frozenset[str] = frozenset()) -> bytes:
    """``repo``'s files as a .tar.gz with the files at its top (links kept as links,
    never followed); paths in ``skip`` (relative to ``repo``) left out."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for top, folders, names in os.walk(repo):  # never into a linked folder
            base = Path(top)
            for name in sorted([*folders, *names]):
                relative = (base / name).relative_to(repo).as_posix()
                if any(relative == s or relative.startswith(s + "/") for s in skip):
                    if name in folders:
                        folders.remove(name)
                    continue
                tar.add(base / name, relative, recursive=False)
            folders.sort()
    return buffer.getvalue()
