"""One session's egress proxy: judges each request by name, then carries it.

`EgressProxy.serve` takes one client connection as a stream pair, however it reached
the host (a Unix socket, a stream multiplexed over the exec channel, a loopback port),
and serves one request on it:

- ``GET http://host/...`` (absolute form): the URI's host is judged, the Host header
  must name the same host and port, and the request goes upstream in origin form
  without hop-by-hop headers and with ``Connection: close``; its body streams up as it
  arrives (Content-Length or chunked, re-framed), the response streams back verbatim
  until the upstream closes.
- ``CONNECT host:port``: judged by host and port; after ``200`` the proxy reads the TLS
  ClientHello and wants its SNI to be the CONNECT host (no SNI, another name, ECH, or
  bytes that are not TLS are refused: domain fronting), then sends the hello upstream
  and splices both ways.
- ``CONNECT`` to a host the credential ``broker`` serves: the proxy terminates the TLS
  itself with the session CA's certificate for the host (the SNI checked in the
  handshake), opens TLS to the real server (verified), and carries one request inside,
  its headers rewritten by the broker, as for plain HTTP.

Before connecting, the policy judges the name (IP literals are always refused), the
`Resolver` resolves it and refuses forbidden addresses, and the proxy connects to the
checked address itself. A refusal is a 403 carrying ``X-Airlock-Egress: <reason>``
(inside an opened tunnel: a TLS access_denied alert, or the 403 when the client speaks
plain text); an unreachable upstream is a 502 with the same header. Every request,
carried or not, ends as one `EgressRecord` handed to ``audit``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Awaitable, Callable
from ipaddress import ip_address
from pathlib import Path

from sandbox.egress.addresses import IPAddress
from sandbox.egress.authority import SNI_REFUSED
from sandbox.egress.broker import CredentialBroker, StreamPair
from sandbox.egress.http_body import BodyError, forward_body
from sandbox.egress.http_head import (
    BodyFraming,
    RequestHead,
    Target,
    body_framing,
    parse_absolute_target,
    parse_authority,
    read_request_head,
    upstream_head,
)
from sandbox.egress.limits import EgressLimits
from sandbox.egress.records import EgressRecord, RecordDraft
from sandbox.egress.refusal import TLS_ACCESS_DENIED, EgressRefused, refusal_response
from sandbox.egress.resolver import Resolver
from sandbox.egress.splice import Activity, carry, describe, pump, splice
from sandbox.egress.tls_hello import NotTLS, read_client_hello
from sandbox.egress.zero_copy import SPLICE_AFTER, KernelBudget
from security.network_policy import NetworkPolicy, normalise_host

log = logging.getLogger(__name__)

Audit = Callable[[EgressRecord], None]
Connect = Callable[[str, int], Awaitable[StreamPair]]
"""``connect(address, port)``: a stream pair to that IP address (never a name)."""

ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
_STREAM_LIMIT = 64 * 1024
_LINGER_BYTES = 1024 * 1024  # read and dropped after a refusal, at most


async def open_upstream(address: str, port: int) -> StreamPair:
    """A TCP connection to ``address`` (an IP address: nothing is resolved)."""
    return await asyncio.open_connection(address, port, limit=_STREAM_LIMIT)


class EgressProxy:
    """The egress proxy of one session: ``policy`` judges names, ``resolver`` turns them
    into checked addresses, ``audit`` receives a record per request. ``connect`` opens
    upstream connections (TCP by default); ``broker`` is the credential brokering hook;
    a direction that has moved ``splice_after`` bytes between two sockets switches to
    splice(2) (None: never)."""

    def __init__(
        self,
        policy: NetworkPolicy,
        resolver: Resolver,
        audit: Audit,
        *,
        limits: EgressLimits | None = None,
        connect: Connect = open_upstream,
        broker: CredentialBroker | None = None,
        splice_after: int | None = SPLICE_AFTER,
    ) -> None:
        self.policy = policy
        self.resolver = resolver
        self.audit = audit
        self.limits = limits or EgressLimits()
        self.connect = connect
        self.broker = broker
        self.splice_after = splice_after
        self.kernel_budget = KernelBudget(self.limits.max_kernel_directions)
        self._serving: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> int:
        """Client connections being served now."""
        return len(self._serving)

    async def listen_unix(self, path: str | Path) -> asyncio.Server:
        """Serve connections made to a Unix socket at ``path``."""
        return await asyncio.start_unix_server(self._handle, str(path), limit=_STREAM_LIMIT)

    async def listen_tcp(self, port: int = 0, host: str = "127.0.0.1") -> asyncio.Server:
        """Serve connections to ``host:port`` (a loopback address only; port 0 picks one)."""
        if not ip_address(host).is_loopback:
            raise ValueError(f"the egress proxy listens on loopback only, not {host}")
        return await asyncio.start_server(self._handle, host, port, limit=_STREAM_LIMIT)

    async def aclose(self) -> None:
        """End every connection being served (their records say ``proxy stopped``)."""
        tasks = list(self._serving)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self.serve(reader, writer)
        except asyncio.CancelledError:
            pass  # aclose(); ending here spares 3.11's stream callback a cancelled task
        except Exception:
            log.exception("egress proxy: a connection failed")

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one request on the client connection ``reader``/``writer``, then close
        it. The record goes to ``audit`` (whose errors propagate from here)."""
        draft = RecordDraft()
        task = asyncio.current_task()
        if len(self._serving) >= self.limits.max_connections or task is None:
            draft.reason, draft.status = "too many connections", 503
            await self._answer(reader, writer, refusal_response(503, draft.reason))
            await _close(writer)
            self.audit(draft.finish())
            return
        self._serving.add(task)
        opened: list[StreamPair] = []
        try:
            await self._exchange((reader, writer), draft, opened)
        except EgressRefused as refusal:
            if draft.decision == "allowed":
                draft.error = refusal.reason
            else:
                draft.reason = refusal.reason
            draft.status = refusal.status
            await self._answer(reader, writer, refusal_response(refusal.status, refusal.reason))
        except (OSError, asyncio.IncompleteReadError, BodyError) as exc:
            draft.error = describe(exc)
            draft.reason = draft.reason or "client went away"
        except asyncio.CancelledError:
            draft.error = "proxy stopped"
            raise
        finally:
            try:
                for upstream in opened:
                    await _close(upstream[1])
                await _close(writer)
                if draft.method or draft.reason:
                    self.audit(draft.finish())
            finally:
                self._serving.discard(task)

    async def _exchange(
        self, client: StreamPair, draft: RecordDraft, opened: list[StreamPair]
    ) -> None:
        """Read the request and carry it; an upstream connection it opens goes into
        ``opened``, for the caller to close."""
        try:
            async with asyncio.timeout(self.limits.head_timeout_s):
                head = await read_request_head(client[0], self.limits.max_head_bytes)
        except TimeoutError:
            raise EgressRefused("request head timeout", 408) from None
        if head is None:
            return
        draft.method = head.method
        if head.method == "CONNECT":
            await self._tunnel(head, client, draft, opened)
        else:
            await self._forward(head, client, draft, opened)

    async def _judge(self, host: str, port: int, draft: RecordDraft) -> list[IPAddress]:
        """The addresses ``host`` may be reached at, or `EgressRefused`."""
        allowed, reason = self.policy.decide(host, port)
        if not allowed:
            raise EgressRefused(reason, 403)
        addresses = await self.resolver.resolve(host, port)
        draft.decision, draft.reason = "allowed", reason
        return addresses

    async def _open(
        self, addresses: list[IPAddress], port: int, opened: list[StreamPair]
    ) -> StreamPair:
        """A connection to the first of ``addresses`` that answers (also put in
        ``opened``); a 502 if none does."""
        problem = "no address"
        try:
            async with asyncio.timeout(self.limits.connect_timeout_s):
                for address in addresses:
                    try:
                        upstream = await self.connect(str(address), port)
                        opened.append(upstream)
                        return upstream
                    except OSError as exc:
                        problem = exc.strerror or type(exc).__name__
        except TimeoutError:
            problem = "connect timeout"
        raise EgressRefused(f"upstream unreachable ({problem})", 502)

    async def _forward(
        self, head: RequestHead, client: StreamPair, draft: RecordDraft, opened: list[StreamPair]
    ) -> None:
        target = parse_absolute_target(head.target)
        draft.host, draft.port = target.host, target.port
        _same_host(head, target)
        framing = body_framing(head)
        addresses = await self._judge(target.host, target.port, draft)
        request_head = self._rewritten(head, target, draft)
        upstream = await self._open(addresses, target.port, opened)
        await self._relay(request_head, framing, client, upstream, draft)

    def _rewritten(self, head: RequestHead, target: Target, draft: RecordDraft) -> bytes:
        """The head to send upstream, credentials put in by the broker (if any)."""
        if self.broker is None:
            return upstream_head(head, target)
        rewrite = self.broker.rewrite(normalise_host(target.host), target.port, head.headers)
        draft.brokered |= rewrite.brokered
        draft.withheld |= rewrite.withheld
        return upstream_head(head, target, rewrite.headers)

    async def _relay(
        self,
        request_head: bytes,
        framing: BodyFraming,
        client: StreamPair,
        upstream: StreamPair,
        draft: RecordDraft,
    ) -> None:
        """Send ``request_head`` and the client's body up, relay the response down
        until the upstream closes."""
        activity = Activity()

        def up(count: int) -> None:
            draft.bytes_up += count
            activity.touch()

        def down(count: int) -> None:
            draft.bytes_down += count
            activity.touch()

        async def request() -> None:
            upstream[1].write(request_head)
            up(len(request_head))
            await upstream[1].drain()
            await forward_body(
                framing,
                client[0],
                upstream[1],
                piece=self.limits.piece_bytes,
                max_trailer=self.limits.max_head_bytes,
                sent=up,
            )

        response = pump(
            upstream,
            client[1],
            piece=self.limits.piece_bytes,
            moved=down,
            splice_after=self.splice_after,
            budget=self.kernel_budget,
        )
        draft.error = await carry(
            request(),
            response,
            activity=activity,
            idle=self.limits.idle_timeout_s,
            down_ends=True,
        )

    async def _tunnel(
        self, head: RequestHead, client: StreamPair, draft: RecordDraft, opened: list[StreamPair]
    ) -> None:
        host, port = parse_authority(head.target, None)
        draft.host, draft.port = host, port
        _same_host(head, Target(host, port))
        addresses = await self._judge(host, port, draft)
        upstream = await self._open(addresses, port, opened)
        client[1].write(ESTABLISHED)
        draft.status = 200
        await client[1].drain()
        name = normalise_host(host)
        if self.broker is not None and self.broker.brokers(name, port):
            await self._terminate(self.broker, name, port, client, upstream, draft)
            return
        await self._check_hello(host, port, client, upstream, draft)

    async def _terminate(
        self,
        broker: CredentialBroker,
        name: str,
        port: int,
        client: StreamPair,
        upstream: StreamPair,
        draft: RecordDraft,
    ) -> None:
        """Terminate the tunnel's TLS (SNI checked), open TLS to the real server, and
        carry one request between them, its headers rewritten by ``broker``."""
        draft.terminated = True
        try:
            async with asyncio.timeout(self.limits.hello_timeout_s):
                await client[1].start_tls(broker.client_context(name))
        except TimeoutError:
            self._refuse_in_tunnel(draft, "no TLS handshake in time")
            return
        except ssl.SSLError as exc:
            if exc.reason == SNI_REFUSED:
                problem = "SNI missing or differs from the CONNECT host"
            else:
                problem = f"TLS handshake with the client failed ({exc.reason or exc})"
            self._refuse_in_tunnel(draft, problem)
            return
        except ConnectionError:  # asyncio's word for an EOF in the handshake, too
            # node rejects a certificate it does not trust this way: no alert, a close
            self._refuse_in_tunnel(draft, "TLS handshake with the client failed (closed)")
            return
        try:
            async with asyncio.timeout(self.limits.connect_timeout_s):
                await upstream[1].start_tls(broker.upstream_context(), server_hostname=name)
        except (TimeoutError, ssl.SSLError, ssl.CertificateError) as exc:
            problem = "timeout" if isinstance(exc, TimeoutError) else describe_tls(exc)
            raise EgressRefused(f"upstream TLS failed ({problem})", 502) from None
        try:
            async with asyncio.timeout(self.limits.head_timeout_s):
                head = await read_request_head(client[0], self.limits.max_head_bytes)
        except TimeoutError:
            raise EgressRefused("request head timeout", 408) from None
        if head is None:
            return
        if head.method == "CONNECT" or not head.target.startswith("/"):
            raise EgressRefused("inside a tunnel, a request names a path (origin form)", 400)
        target = Target(name, port, head.target)
        value = head.single("Host")
        if value is not None:
            host, given_port = parse_authority(value, 443)
            if normalise_host(host) != name or given_port != port:
                raise EgressRefused("Host header differs from the CONNECT host", 403)
        framing = body_framing(head)
        await self._relay(self._rewritten(head, target, draft), framing, client, upstream, draft)

    async def _check_hello(
        self, host: str, port: int, client: StreamPair, upstream: StreamPair, draft: RecordDraft
    ) -> None:
        """Read the ClientHello, check its SNI, then carry the tunnel."""
        try:
            async with asyncio.timeout(self.limits.hello_timeout_s):
                hello = await read_client_hello(client[0], self.limits.max_hello_bytes)
        except TimeoutError:
            self._refuse_in_tunnel(draft, "no ClientHello in time")
            return
        except NotTLS as refusal:
            self._refuse_in_tunnel(draft, refusal.reason)
            await self._answer(client[0], client[1], refusal_response(403, refusal.reason))
            return
        except EgressRefused as refusal:
            self._refuse_in_tunnel(draft, refusal.reason, alert=client[1])
            return
        name = normalise_host(host)
        if hello.encrypted:
            problem = "encrypted ClientHello (ECH) hides the server name"
        elif hello.server_name is None:
            problem = "no SNI in the ClientHello"
        elif normalise_host(hello.server_name) != name:
            problem = f"SNI {hello.server_name[:80]!r} differs from the CONNECT host"
        else:
            problem = None
        if problem:
            self._refuse_in_tunnel(draft, problem, alert=client[1])
            return
        upstream[1].write(hello.raw)
        draft.bytes_up += len(hello.raw)
        await upstream[1].drain()

        def up(count: int) -> None:
            draft.bytes_up += count

        def down(count: int) -> None:
            draft.bytes_down += count

        draft.error = await splice(
            client,
            upstream,
            piece=self.limits.piece_bytes,
            idle=self.limits.idle_timeout_s,
            up=up,
            down=down,
            splice_after=self.splice_after,
            budget=self.kernel_budget,
        )

    @staticmethod
    def _refuse_in_tunnel(
        draft: RecordDraft, reason: str, alert: asyncio.StreamWriter | None = None
    ) -> None:
        draft.decision, draft.reason, draft.status = "refused", reason, 403
        if alert is not None and not alert.is_closing():
            alert.write(TLS_ACCESS_DENIED)

    async def _answer(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: bytes
    ) -> None:
        """Hand the client ``response`` and end its sending, then read and drop what it
        still sends until it closes, for a bounded time and size: closing a socket with
        unread bytes resets it, and the reset can destroy the response in flight."""
        if writer.is_closing():
            return
        with contextlib.suppress(OSError, TimeoutError):
            writer.write(response)
            async with asyncio.timeout(self.limits.answer_timeout_s):
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            async with asyncio.timeout(self.limits.linger_s):
                dropped = 0
                while dropped < _LINGER_BYTES and (data := await reader.read(_STREAM_LIMIT)):
                    dropped += len(data)


def describe_tls(error: Exception) -> str:
    """A few words for a failed TLS handshake with a real server."""
    if isinstance(error, ssl.SSLCertVerificationError):
        return error.verify_message or "certificate verify failed"
    if isinstance(error, ssl.SSLError):
        return error.reason or str(error)
    return str(error)[:200]


def _same_host(head: RequestHead, target: Target) -> None:
    """A 403 unless the Host header, if any, names the target's host and port."""
    value = head.single("Host")
    if value is None:
        return
    host, port = parse_authority(value, target.port if head.method == "CONNECT" else 80)
    if normalise_host(host) != normalise_host(target.host) or port != target.port:
        raise EgressRefused("Host header differs from the request target", 403)


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``'s connection, waiting a little for it to go."""
    writer.close()
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(1.0):
            await writer.wait_closed()
