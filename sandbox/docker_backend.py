"""Sessions on a Docker engine: one hardened container each, driven by the exec agent."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import socket
import tarfile
import tempfile
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import docker
from docker.errors import APIError, NotFound

from sandbox import labels
from sandbox.agent_bundle import agent_source
from sandbox.base import (
    DEFAULT_MAX_OUTPUT,
    MAX_FILE_BYTES,
    Command,
    SandboxError,
)
from sandbox.channel import NO_AGENT_MARKER, AgentChannel, ChannelClosed, NoAgent
from sandbox.confinement import Confinement
from sandbox.docker_exec import DockerExecExecutor, docker_exec_stream
from sandbox.egress import CredentialError, EgressRecord, ResolveSpecError
from sandbox.egress_socket import HANDOFF_PATH, SOCKET_DIR, SOCKET_PATH
from sandbox.egress_transport import EgressHandler, EgressUnavailable
from sandbox.engine import ENGINE_ERRORS, connect
from sandbox.executor import Executor
from sandbox.hardening import container_settings
from sandbox.reaper import reap
from sandbox.results import ExecExit, ExecResult, OutputChunk
from sandbox.session_egress import CA_BUNDLE, SYSTEM_BUNDLE, SessionEgress
from sandbox.spec import EGRESS_PORT, SessionSpec
from sandbox.tree_extract import UnsafeArchive, extract_tree
from sandbox.workspace_seed import SeedError, SplitArchive, pack_directory, split_archive

log = logging.getLogger(__name__)
AGENT_SOURCE = agent_source()
# a container killed by SIGKILL (exit 137) may be flagged OOMKilled a moment later (under
# gVisor and a loaded engine): its loss is read again for up to this long before it is
# called a plain stop
SIGKILLED = 137
OOM_SETTLE_TRIES = 10
OOM_SETTLE_S = 0.2
RUNSC_HOST_UDS_ARGS = ("--host-uds=open", "--host-uds=all", "--fsgofer-host-uds")
# The container's main process: the agent if the image has python3, else a sleeper
# (execs then go through `docker exec`). A `timeout` wrapper enforces the TTL.
AGENT_LAUNCH = (
    'src="$AIRLOCK_AGENT"; unset AIRLOCK_AGENT; '
    'if command -v timeout >/dev/null 2>&1; then set -- timeout -s KILL "$AIRLOCK_TTL"; fi; '
    'if command -v python3 >/dev/null 2>&1; then exec "$@" python3 -I -S -c "$src"; fi; '
    f'echo "{NO_AGENT_MARKER}, using docker exec" >&2; exec "$@" sleep 2147483647'
)


def _check_separated(hello: dict[str, Any]) -> None:
    """Refuse an agent that would run commands as itself: they could reach its channel."""
    agent, commands = hello.get("uid"), hello.get("command_uid")
    if commands is None or (agent == commands and commands != 0):
        raise ChannelClosed(
            f"the exec agent runs as uid {agent} and would run commands as uid {commands}: "
            "commands could write to its channel (it must run as root, see hardening.py)"
        )


@dataclass(frozen=True)
class _Loss:
    """Why a session's sandbox went away."""

    reason: str
    oom: bool = False
    settled: bool = True  # False: the engine did not answer, ask again next time


class DockerSession:
    """One running sandbox container (a `sandbox.Session`)."""

    def __init__(
        self,
        backend: DockerBackend,
        session_id: str,
        spec: SessionSpec,
        container: Any,
        executor: Executor,
        egress: SessionEgress | None = None,
    ) -> None:
        self.backend = backend
        self.id = session_id
        self.spec = spec
        self.container = container
        self.executor = executor
        self.egress = egress  # its proxy, when spec.egress allows hosts
        self.closed = False
        self._lost: _Loss | None = None
        self._removed = False

    @property
    def channel(self) -> AgentChannel | None:
        """The exec agent's channel, or None when commands go through `docker exec`."""
        return self.executor if isinstance(self.executor, AgentChannel) else None

    @property
    def uses_agent(self) -> bool:
        return self.channel is not None

    @property
    def alive(self) -> bool:
        return not self.closed and self._lost is None and self.executor.alive

    def argv(self, command: Command) -> list[str]:
        """A string runs through the spec's shell (``bash -c``); a list runs as it is."""
        return [self.spec.shell, "-c", command] if isinstance(command, str) else list(command)

    async def stream(
        self,
        command: Command,
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | AsyncIterator[bytes] | None = None,
        max_output: int = DEFAULT_MAX_OUTPUT,
        confinement: Confinement | None = None,
    ) -> AsyncIterator[OutputChunk | ExecExit]:
        """Run a command; yield output chunks as they come, then one `ExecExit`.

        With ``confinement`` it runs as a proven read-only command under the kernel's
        Landlock (see `sandbox.confinement`); the exit's ``confinement`` says whether it
        was, and why not.
        """
        if self.closed:
            raise SandboxError(f"session {self.id} is closed")
        if not self.executor.alive:
            raise SandboxError(f"session {self.id} is lost: {(await self._loss()).reason}")
        async for event in self.executor.stream(
            self.argv(command),
            cwd=cwd or self.spec.workdir,
            env=env,
            timeout=timeout,
            stdin=stdin,
            max_output=max_output,
            confinement=confinement,
        ):
            # An exit the executor did not get from the sandbox (no code, no signal: it made
            # it up) is explained by the engine's view. One the sandbox reported keeps its
            # own reason, however late the reader comes to it.
            if (
                isinstance(event, ExecExit)
                and event.error
                and event.exit_code is None
                and event.signal is None
                and not self.executor.alive
            ):
                loss = await self._loss()
                event = event.model_copy(
                    update={"error": f"sandbox lost: {loss.reason}", "oom_killed": loss.oom}
                )
            yield event

    async def _loss(self) -> _Loss:
        """Why the sandbox went away, from the engine's view of the container (once)."""
        if self._lost is not None:
            return self._lost
        loss = await asyncio.to_thread(self._read_loss)
        if loss.settled:
            self._lost = loss
        return loss

    def _read_loss(self) -> _Loss:
        channel_reason = self.executor.closed_reason
        for _ in range(OOM_SETTLE_TRIES):
            try:
                self.container.reload()
            except NotFound:
                return _Loss("its container was removed")
            except ENGINE_ERRORS as exc:
                why = channel_reason or "the agent stopped"
                return _Loss(f"{why}; the engine does not answer ({exc})", settled=False)
            state = self.container.attrs.get("State", {})
            killed = not state.get("Running", False) and state.get("ExitCode") == SIGKILLED
            if state.get("OOMKilled") or not killed:
                break
            time.sleep(OOM_SETTLE_S)  # a SIGKILL whose OOM flag the engine may set later
        if state.get("OOMKilled"):
            limit = self.spec.limits.memory_mb
            why = f"the sandbox ran out of memory (limit {limit} MB) and was killed"
            return _Loss(f"{why}; the session is over", oom=True)
        if not state.get("Running", False):
            return _Loss(f"its container stopped (exit code {state.get('ExitCode')})")
        return _Loss(channel_reason or "the agent stopped answering")

    async def exec(
        self,
        command: Command,
        *,
        timeout: float | None = None,
        cwd: str | None = None,
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
        max_output: int = DEFAULT_MAX_OUTPUT,
        confinement: Confinement | None = None,
    ) -> ExecResult:
        """Run a command to its end; its output is capped at ``max_output`` per stream."""
        out = {"stdout": bytearray(), "stderr": bytearray()}
        final: ExecExit | None = None
        async for event in self.stream(
            command, timeout=timeout, cwd=cwd, env=env, stdin=stdin, max_output=max_output,
            confinement=confinement,
        ):  # fmt: skip
            if isinstance(event, OutputChunk):
                out[event.stream] += event.data
            else:
                final = event
        assert final is not None
        return ExecResult(
            **final.model_dump(), stdout=bytes(out["stdout"]), stderr=bytes(out["stderr"])
        )

    def watch_egress(self, listener: Callable[[EgressRecord], None]) -> None:
        """Send each request through this session's egress proxy to ``listener`` (those
        made before, buffered, first). A session without egress has none to send."""
        if self.egress is not None:
            dropped = self.egress.watch(listener)
            if dropped:
                log.warning("session %s: %d egress records were dropped", self.id, dropped)

    async def serve_egress(self, handler: EgressHandler, port: int = 0) -> int:
        """Serve the session's outbound connections with ``handler`` (its egress proxy).

        The exec agent listens on 127.0.0.1:``port`` inside the sandbox (0: a free port,
        returned) and hands each connection to ``handler`` as an asyncio stream pair over
        the exec channel; the sandbox keeps no network interface but loopback. Raises
        `EgressUnavailable` when the image cannot run the agent (no python3) or the
        agent cannot listen, `SandboxError` when the session is lost.
        """
        if self.closed:
            raise SandboxError(f"session {self.id} is closed")
        channel = self.channel
        if channel is None:
            raise EgressUnavailable(
                f"session {self.id}: the image {self.spec.image} has no python3, so its "
                "sandbox has no exec agent to carry egress; use an image with python3 "
                "(airlock/dev) or run without network access"
            )
        try:
            return await channel.serve_egress(handler, port)
        except EgressUnavailable as exc:
            raise EgressUnavailable(f"session {self.id}: {exc}") from exc
        except (ChannelClosed, TimeoutError) as exc:
            raise SandboxError(f"session {self.id}: cannot serve egress: {exc}") from exc

    async def bridge_egress(self, port: int = 0) -> int:
        """Serve the session's outbound connections through its proxy's Unix socket,
        mounted at `SOCKET_PATH`: the agent listens on 127.0.0.1:``port`` and bridges
        each connection to it. Raises as `serve_egress`."""
        if self.closed:
            raise SandboxError(f"session {self.id} is closed")
        channel = self.channel
        if channel is None:
            raise EgressUnavailable(
                f"session {self.id}: the image {self.spec.image} has no python3, so its "
                "sandbox has no exec agent to carry egress"
            )
        try:
            # gVisor's splice into TCP corrupts streams past 64 KiB: the agent copies
            # there; and its sockets are its Sentry's, which cannot be passed to the host
            runc = self.spec.runtime != "runsc"
            handoff = HANDOFF_PATH if runc else None
            return await channel.bridge_egress(SOCKET_PATH, port, splice=runc, handoff=handoff)
        except EgressUnavailable as exc:
            raise EgressUnavailable(f"session {self.id}: {exc}") from exc
        except (ChannelClosed, TimeoutError) as exc:
            raise SandboxError(f"session {self.id}: cannot serve egress: {exc}") from exc

    async def install_egress_trust(self) -> None:
        """Write the brokering session's CA bundle (`CA_BUNDLE`) as root: the image's
        own CAs, read from the session, then the session CA."""
        if self.egress is None or self.egress.broker is None:
            return
        try:
            system = await self.get_file(SYSTEM_BUNDLE)
        except SandboxError:
            system = b""  # an image without ca-certificates trusts the session CA alone
        bundle = PurePosixPath(CA_BUNDLE)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            folder = tarfile.TarInfo(bundle.parent.name)
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(folder)
            data = self.egress.trust_bundle(system)
            info = tarfile.TarInfo(f"{bundle.parent.name}/{bundle.name}")
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        await self._untar_as_root(str(bundle.parent.parent), buffer.getvalue())

    async def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` in the container (parents created)."""
        target = PurePosixPath(path)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            info = tarfile.TarInfo(target.name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
        await self._untar(str(target.parent), buffer.getvalue())

    async def get_file(self, path: str, max_bytes: int = MAX_FILE_BYTES) -> bytes:
        result = await self.exec(["cat", "--", path], max_output=max_bytes + 1)
        if result.exit_code != 0:
            raise SandboxError(f"cannot read {path}: {result.stderr.decode(errors='replace')}")
        if result.stdout_truncated or len(result.stdout) > max_bytes:
            raise SandboxError(f"{path} is larger than {max_bytes} bytes")
        return result.stdout

    async def put_dir(
        self, source: Path, destination: str, exclude: frozenset[str] = frozenset()
    ) -> SplitArchive | None:
        """Copy a host folder's contents into ``destination`` in the container.

        Into the workspace, it is a seed (`seed_workspace`): the repository's .git/config
        and .git/hooks become root-owned and credentials are stripped; the returned split
        says what was protected and stripped. Elsewhere, a plain copy (returns None).
        """
        archive = pack_directory(source, exclude)
        if destination.rstrip("/") == self.spec.workdir.rstrip("/"):
            return await self.seed_workspace(archive)
        await self._untar(destination, archive)
        return None

    async def seed_workspace(self, archive: bytes) -> SplitArchive:
        """Extract a tar of workspace contents with the git setup protected from the agent.

        Root (uid 0, no capabilities) extracts .git, .git/config and .git/hooks; the agent
        extracts the rest. See `sandbox.workspace_seed`.
        """
        try:
            split = split_archive(archive)
        except (SeedError, tarfile.TarError) as exc:
            raise SandboxError(f"cannot seed the workspace: {exc}") from exc
        if split.root:
            await self._untar_as_root(self.spec.workdir, split.root)
        await self._untar(self.spec.workdir, split.agent)
        return split

    async def _untar_as_root(self, directory: str, archive: bytes) -> None:
        """Extract as uid 0 with no capabilities: files owned by root, owners not restored."""
        events = docker_exec_stream(
            self.backend.client, str(self.container.id),
            # the workspace tmpfs is root's: make it sticky whatever the image's mode was
            ["sh", "-c", 'chmod 1777 "$1" && exec tar -x -o -f - -C "$1"', "sh", directory],
            user="0:0", cwd="/", env=None, timeout=120, stdin=archive,
            max_output=DEFAULT_MAX_OUTPUT,
        )  # fmt: skip
        errors = bytearray()
        final: ExecExit | None = None
        async for event in events:
            if isinstance(event, OutputChunk):
                errors += event.data
            else:
                final = event
        if final is None or final.exit_code != 0:
            raise SandboxError(
                f"cannot write the protected git files into {directory}: "
                f"{errors.decode(errors='replace').strip() or final}"
            )

    async def get_dir(self, source: str, destination: Path, max_bytes: int | None = None) -> None:
        """Copy a container folder's contents into a host folder (safely extracted).

        The tar streams into a temporary file on the host, never into memory, up to
        ``max_bytes`` (default: what the session's workspace can hold, so whatever was
        copied in or made there fits).
        """
        limit = self.copy_out_limit() if max_bytes is None else max_bytes
        errors: deque[bytes] = deque(maxlen=16)
        final: ExecExit | None = None
        with tempfile.TemporaryFile(prefix="airlock-copy-out-") as spool:
            async for event in self.stream(
                ["tar", "-c", "-f", "-", "-C", source, "."], max_output=limit + 1
            ):
                if isinstance(event, ExecExit):
                    final = event
                elif event.stream == "stdout":
                    await asyncio.to_thread(spool.write, event.data)
                else:
                    errors.append(event.data)
            if final is None or final.exit_code != 0 or final.stdout_truncated:
                if final is not None and final.stdout_truncated:
                    reason = f"more than {limit} bytes"
                else:
                    said = b"".join(errors).decode(errors="replace").strip()
                    reason = said or (final.error if final else None) or "tar failed"
                raise SandboxError(f"cannot copy {source}: {reason}")
            spool.seek(0)
            try:
                await asyncio.to_thread(extract_tree, spool, destination)
            except (UnsafeArchive, tarfile.TarError) as exc:
                raise SandboxError(f"cannot copy {source}: {exc}") from exc

    def copy_out_limit(self) -> int:
        """The largest tar of the workspace: its size, plus a header (and padding) per file."""
        limits = self.spec.limits
        return limits.workspace_mb * 2**20 + limits.workspace_inodes * 2 * tarfile.BLOCKSIZE

    async def _untar(self, directory: str, archive: bytes) -> None:
        script = 'mkdir -p -- "$1" && exec tar -x -f - -C "$1"'
        result = await self.exec(["sh", "-c", script, "sh", directory], stdin=archive)
        if result.exit_code != 0:
            raise SandboxError(
                f"cannot write into {directory}: {result.stderr.decode(errors='replace').strip()}"
            )

    async def fork(self) -> DockerSession:
        """A new session of the same spec, seeded with a copy of this workspace."""
        child = await self.backend.start(self.spec, parent=self.id)
        if self.egress is not None and child.egress is not None:
            for listener in self.egress.listeners:  # the fork's requests reach the same log
                child.egress.watch(listener)
        try:
            packed = await self.exec(
                ["tar", "-c", "-f", "-", "-C", self.spec.workdir, "."],
                max_output=self.spec.limits.workspace_mb * 2**20,
            )
            if packed.exit_code != 0 or packed.stdout_truncated:
                raise SandboxError(f"cannot copy the workspace of {self.id}")
            await child.seed_workspace(packed.stdout)
        except BaseException:
            await child.close()
            raise
        return child

    async def cpu_seconds(self) -> float | None:
        """The container's CPU time so far, from one engine stats sample."""
        if self._removed:
            return None
        try:
            stats = await asyncio.to_thread(self.container.stats, stream=False, one_shot=True)
            return int(stats["cpu_stats"]["cpu_usage"]["total_usage"]) / 1e9
        except (*ENGINE_ERRORS, KeyError, TypeError, ValueError):
            return None

    async def close(self) -> None:
        """Stop the agent and remove the container. Safe to call twice.

        If the engine does not answer, raises SandboxError; calling again once it does
        removes the container (so does the reaper, once this process is gone).
        """
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                await self.executor.close()
            if self.egress is not None:
                with contextlib.suppress(Exception):
                    await self.egress.aclose()
        if self._removed:
            return
        try:
            await asyncio.to_thread(_remove, self.container)
        except ENGINE_ERRORS as exc:
            raise SandboxError(
                f"session {self.id}: cannot remove its container, the engine does not answer "
                f"({exc}); close it again later, or the reaper removes it once this process ends"
            ) from exc
        self._removed = True


def _session_egress(spec: SessionSpec) -> SessionEgress | None:
    """The session's own proxy when its spec allows hosts; a bad AIRLOCK_EGRESS_RESOLVE
    or a credential missing from the environment is a `SandboxError` before any
    container starts."""
    if not spec.egress.allow:
        return None
    try:
        return SessionEgress(spec.egress)
    except (ResolveSpecError, CredentialError) as exc:
        raise SandboxError(str(exc)) from exc


def _remove(container: Any) -> None:
    """Remove the container; gone already, or being removed by the engine, is fine."""
    try:
        container.remove(force=True)
    except NotFound:
        pass
    except APIError as exc:
        if exc.status_code != 409 or "already in progress" not in str(exc):
            raise


class DockerBackend:
    """Starts sessions on the local Docker engine."""

    def __init__(
        self, client: docker.DockerClient | None = None, owner: labels.Owner | None = None
    ) -> None:
        self._client = client
        self.owner = owner or labels.Owner.current()
        self._reaped = False
        self._runsc_host_uds: bool | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            self._client = connect()
        return self._client

    @asynccontextmanager
    async def session(self, spec: SessionSpec | None = None) -> AsyncIterator[DockerSession]:
        session = await self.start(spec or SessionSpec())
        try:
            yield session
        finally:
            await session.close()

    async def start(self, spec: SessionSpec, parent: str | None = None) -> DockerSession:
        """Create, start and connect to a new session container."""
        if not self._reaped:  # leftovers of crashed orchestrators go before new ones come
            self._reaped = True
            try:
                await asyncio.to_thread(reap, self.client)
            except ENGINE_ERRORS:
                self._reaped = False  # housekeeping only: try again at the next start
        session_id = uuid.uuid4().hex[:12]
        tags = {
            **spec.labels,
            **labels.session_labels(session_id, spec.limits.ttl_seconds, self.owner, parent),
        }
        settings = container_settings(spec)
        settings["labels"] = tags
        egress = _session_egress(spec)
        transport = await self._egress_transport(spec) if egress is not None else None
        if egress is not None and transport == "socket":
            proxy_socket = await egress.open_socket()
            settings["mounts"] = [
                docker.types.Mount(
                    SOCKET_DIR, str(proxy_socket.folder), type="bind", read_only=True
                )
            ]
        settings["environment"] = {
            **settings["environment"],
            **(egress.environment() if egress is not None else {}),
            "AIRLOCK_AGENT": AGENT_SOURCE,
            "AIRLOCK_TTL": str(spec.limits.ttl_seconds),
        }
        try:
            container, sock = await asyncio.to_thread(self._create, session_id, settings)
        except BaseException as exc:
            if egress is not None:
                await egress.aclose()
            if isinstance(exc, ENGINE_ERRORS):
                raise SandboxError(f"cannot start a session on {spec.image}: {exc}") from exc
            raise
        channel = AgentChannel(sock)
        executor: Executor = channel
        try:
            _check_separated(await channel.start())
        except NoAgent:
            await channel.close()
            executor = DockerExecExecutor(self.client, str(container.id), spec.user)
        except (ChannelClosed, OSError) as exc:
            await asyncio.to_thread(_remove, container)
            if egress is not None:
                await egress.aclose()
            raise SandboxError(f"session {session_id} did not come up: {exc}") from exc
        session = DockerSession(self, session_id, spec, container, executor, egress)
        if egress is not None:
            try:
                if transport == "socket":
                    await session.bridge_egress(EGRESS_PORT)
                else:
                    await session.serve_egress(egress.handler, EGRESS_PORT)
                await session.install_egress_trust()
            except BaseException:
                await session.close()
                raise
        return session

    async def _egress_transport(self, spec: SessionSpec) -> Literal["socket", "channel"]:
        """How this session's egress reaches its proxy (`SessionSpec.egress_transport`):
        the Unix socket needs the engine on this machine, and under gVisor a runsc that
        may connect to host sockets; a socket asked for where it cannot work is an error."""
        if spec.egress_transport == "channel":
            return "channel"
        local = self.client.api.base_url.startswith("http+docker://")
        usable = local and (spec.runtime != "runsc" or await self._runsc_reaches_host_sockets())
        if spec.egress_transport == "socket" and not usable:
            why = (
                "the engine is not on this machine"
                if not local
                else (
                    "runsc may not connect to host sockets (it needs --host-uds=open in the "
                    "engine's runtimeArgs: scripts/ensure-engine.sh sets it)"
                )
            )
            raise SandboxError(f"egress over a Unix socket is not possible here: {why}")
        return "socket" if usable else "channel"

    async def _runsc_reaches_host_sockets(self) -> bool:
        if self._runsc_host_uds is None:
            try:
                info = await asyncio.to_thread(self.client.info)
            except ENGINE_ERRORS:
                return False
            args = info.get("Runtimes", {}).get("runsc", {}).get("runtimeArgs") or []
            self._runsc_host_uds = any(arg in RUNSC_HOST_UDS_ARGS for arg in args)
        return self._runsc_host_uds

    def _create(self, session_id: str, settings: dict[str, Any]) -> tuple[Any, socket.socket]:
        container = self.client.containers.create(
            command=["/bin/sh", "-c", AGENT_LAUNCH],
            name=f"airlock-{session_id}",
            stdin_open=True,
            tty=False,
            **settings,
        )
        try:
            attached = self.client.api.attach_socket(
                str(container.id), params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
            container.start()
        except BaseException:
            _remove(container)
            raise
        raw = getattr(attached, "_sock", attached)
        return container, raw
