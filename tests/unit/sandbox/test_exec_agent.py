"""The in-container exec agent, run locally as a subprocess exactly as it is shipped."""

from __future__ import annotations

import hashlib
import os
import platform
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox import exec_agent
from sandbox.agent_bundle import agent_program, agent_source, packed
from sandbox.exec_agent import MAX_FRAME, FrameDecoder, ProtocolError, encode_frame

# No assertion here is on how long something took: a test waits for events (a frame, an
# exit, a process gone) within generous budgets that only a broken agent uses up, so a
# slow, loaded machine passes. Commands that must be killed sleep an hour: the exec
# ending at all shows they were killed, not left to finish.
WAIT_S = 60.0  # for a frame, an exit or a process to go
START_S = 5.0  # for sh to run its first commands, before a timeout under test fires
pytestmark = pytest.mark.timeout(300)

SOURCE = agent_source()  # the agent exactly as it ships
Frame = tuple[dict[str, Any], bytes]


class Result:
    """Every frame one exec produced, in arrival order."""

    def __init__(self, frames: list[Frame], elapsed: float) -> None:
        self.frames = frames
        self.elapsed = elapsed
        self.types = [h["type"] for h, _ in frames]
        assert self.types.count("exit") == 1 and self.types[-1] == "exit", self.types
        self.exit = frames[-1][0]

    def stream(self, name: str) -> bytes:
        return b"".join(p for h, p in self.frames if h["type"] == "output" and h["stream"] == name)

    @property
    def stdout(self) -> bytes:
        return self.stream("stdout")

    @property
    def stderr(self) -> bytes:
        return self.stream("stderr")

    def header(self, kind: str) -> dict[str, Any]:
        return next(h for h, _ in self.frames if h["type"] == kind)


class Client:
    """A tiny host: frames go in through stdin, a thread decodes stdout into a queue."""

    def __init__(self, source: str = SOURCE, **popen: Any) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", source],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            **popen,
        )
        self.inbox: queue.Queue[Frame | None] = queue.Queue()
        self.stash: dict[Any, list[Frame]] = defaultdict(list)
        self.reading = threading.Event()  # cleared: stop reading, so the agent's writes block
        self.reading.set()
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self.recv()[0]

    def _read(self) -> None:
        assert self.proc.stdout is not None
        decoder, fd = FrameDecoder(), self.proc.stdout.fileno()
        try:
            while self.reading.wait() and (data := os.read(fd, 1 << 16)):
                for frame in decoder.feed(data):
                    self.inbox.put(frame)
        finally:
            self.inbox.put(None)

    def recv(self, timeout: float = WAIT_S) -> Frame:
        item = self.inbox.get(timeout=timeout)
        if item is None:
            raise EOFError("agent closed its stdout")
        return item

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        self.send_raw(encode_frame(header, payload))

    def send_raw(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def start(self, xid: int, argv: list[str], **opts: Any) -> None:
        self.send({"type": "exec", "id": xid, "argv": argv, **opts})

    def next_for(self, xid: Any, timeout: float = WAIT_S) -> Frame:
        """The next frame carrying ``xid``; frames of other ids are kept for later."""
        if self.stash[xid]:
            return self.stash[xid].pop(0)
        deadline = time.monotonic() + timeout
        while True:
            frame = self.recv(max(deadline - time.monotonic(), 0.001))
            if frame[0].get("id") == xid:
                return frame
            self.stash[frame[0].get("id")].append(frame)

    def collect(self, xid: int, timeout: float = WAIT_S, began: float | None = None) -> Result:
        began = time.monotonic() if began is None else began
        frames = [self.next_for(xid, timeout)]
        while frames[-1][0]["type"] != "exit":
            frames.append(self.next_for(xid, timeout))
        return Result(frames, time.monotonic() - began)

    def run(self, argv: list[str], xid: int = 1, wait: float = WAIT_S, **opts: Any) -> Result:
        """Start an exec (``opts`` go into the request) and collect all its frames."""
        began = time.monotonic()
        self.start(xid, argv, **opts)
        return self.collect(xid, wait, began)

    def sh(self, script: str, **opts: Any) -> Result:
        return self.run(["sh", "-c", script], **opts)

    def close(self) -> int:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        self.reading.set()
        try:
            return self.proc.wait(timeout=WAIT_S)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def agent() -> Iterator[Client]:
    client = Client()
    yield client
    client.close()


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (zombies count as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def gone(pid: int, within: float = WAIT_S) -> bool:
    deadline = time.monotonic() + within
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def blocked_writing(pid: int, within: float = WAIT_S) -> bool:
    """Whether ``pid`` (a writer that never sleeps otherwise, like ``head /dev/zero``)
    comes to rest: asleep, its count of bytes written unchanged, on 20 looks in a row.
    False once it exits."""
    deadline, last, still = time.monotonic() + within, -1, 0
    while still < 20 and alive(pid) and time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            io = Path(f"/proc/{pid}/io").read_text().split()
        except FileNotFoundError:
            return False
        written = int(io[io.index("wchar:") + 1])
        still = still + 1 if state == "S" and written == last else 0
        last = written
        time.sleep(0.01)
    return still >= 20


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


# --- codec --------------------------------------------------------------------------


def test_frame_round_trip_keeps_binary_payload_and_escaped_newlines() -> None:
    header = {"type": "output", "id": 7, "text": "a\nb", "unicode": "é"}
    payload = bytes(range(256)) + b"\n\n"
    data = encode_frame(header, payload)
    assert struct.unpack(">I", data[:4])[0] == len(data) - 4
    assert FrameDecoder().feed(data) == [(header, payload)]


def test_decoder_handles_frames_split_byte_by_byte() -> None:
    first, second = encode_frame({"type": "a"}, b"xyz"), encode_frame({"type": "b"})
    decoder = FrameDecoder()
    out = [decoder.feed(first[i : i + 1]) for i in range(len(first))]
    assert out[:-1] == [[]] * (len(first) - 1)
    assert out[-1] == [({"type": "a"}, b"xyz")]
    assert decoder.feed(second[:3]) == []
    assert decoder.feed(second[3:]) == [({"type": "b"}, b"")]


def test_decoder_handles_packed_frames_and_a_trailing_partial_one() -> None:
    frames = [({"type": "x", "id": i}, bytes([i]) * i) for i in range(5)]
    data = b"".join(encode_frame(h, p) for h, p in frames)
    tail = encode_frame({"type": "tail"}, b"end")
    decoder = FrameDecoder()
    assert decoder.feed(data + tail[:5]) == frames
    assert decoder.feed(tail[5:]) == [({"type": "tail"}, b"end")]


def test_decoder_rejects_oversize_length_before_the_body_arrives() -> None:
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(struct.pack(">I", MAX_FRAME + 1))
    small = FrameDecoder(max_frame=20)
    assert small.feed(encode_frame({"type": "x"}, b"a" * 7)) == [({"type": "x"}, b"a" * 7)]
    with pytest.raises(ProtocolError):
        small.feed(encode_frame({"type": "x"}, b"a" * 8))


def test_encode_rejects_oversize_frames() -> None:
    with pytest.raises(ProtocolError):
        encode_frame({"type": "output"}, b"\0" * MAX_FRAME)


@pytest.mark.parametrize(
    "body", [b"", b"no newline", b"{bad json\n", b"[1, 2]\n", b'"type"\n', b"\xff\xfe{}\n"]
)
def test_decoder_rejects_garbage(body: bytes) -> None:
    with pytest.raises(ProtocolError):
        FrameDecoder().feed(struct.pack(">I", len(body)) + body)


def test_import_has_no_side_effects() -> None:
    code = "import sandbox.exec_agent as m; assert m.PROTOCOL_VERSION == 1"
    repo = Path(exec_agent.__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, stdin=subprocess.PIPE, capture_output=True
    )
    assert done.returncode == 0 and done.stdout == b""


# --- the agent ----------------------------------------------------------------------


def test_hello_describes_the_agent(agent: Client) -> None:
    assert agent.hello == {
        "type": "hello",
        "version": 1,
        "pid": agent.proc.pid,
        "python": platform.python_version(),
        "uid": os.getuid(),
        "command_uid": os.getuid(),  # no AIRLOCK_USER: its own
        "spawn": "fork",  # and so no setpriv to change user
    }


def test_echo_exits_zero_with_started_output_exit_in_order(agent: Client) -> None:
    result = agent.run(["echo", "hi"], xid=7)
    assert result.types[0] == "started" and result.header("started")["pid"] > 0
    assert result.stdout == b"hi\n" and result.stderr == b""
    assert result.exit["exit_code"] == 0 and result.exit["signal"] is None
    assert result.exit["timed_out"] is False and result.exit["oom_killed"] is False
    assert result.exit["stdout_bytes"] == 3 and result.exit["stderr_bytes"] == 0
    assert result.exit["dropped"] == {"stdout": 0, "stderr": 0}
    assert 0 < result.exit["duration"] <= result.elapsed  # within the host's round trip


@pytest.mark.parametrize(
    ("script", "code", "sig"), [("exit 3", 3, None), ("kill -9 $$", None, 9), ("kill $$", None, 15)]
)
def test_exit_codes_and_signals(agent: Client, script: str, code: int | None, sig: int) -> None:
    result = agent.sh(script)
    assert (result.exit["exit_code"], result.exit["signal"]) == (code, sig)


def test_stdout_and_stderr_are_separate(agent: Client) -> None:
    result = agent.sh("echo out; echo err >&2; echo more")
    assert result.stdout == b"out\nmore\n" and result.stderr == b"err\n"
    assert result.exit["stdout_bytes"] == 9 and result.exit["stderr_bytes"] == 4


def test_binary_and_invalid_utf8_pass_unchanged(agent: Client) -> None:
    child = (
        "import hashlib, os, sys; d = os.urandom(200000) + b'\\xff\\xfe\\xc3('; "
        "sys.stderr.write(hashlib.sha256(d).hexdigest()); sys.stdout.buffer.write(d)"
    )
    result = agent.run([sys.executable, "-c", child])
    assert len(result.stdout) == 200004 and result.stdout.endswith(b"\xff\xfe\xc3(")
    assert hashlib.sha256(result.stdout).hexdigest() == result.stderr.decode()
    assert all(len(p) <= 65536 for h, p in result.frames if h["type"] == "output")


def test_stdin_frames_then_close_feed_cat(agent: Client) -> None:
    agent.start(3, ["cat"], stdin=True)
    assert agent.next_for(3)[0]["type"] == "started"
    agent.send({"type": "stdin", "id": 3}, b"hello ")
    agent.send({"type": "stdin", "id": 3}, b"\xffworld")
    agent.send({"type": "stdin_close", "id": 3})
    result = agent.collect(3)
    assert result.stdout == b"hello \xffworld" and result.exit["exit_code"] == 0


def test_without_stdin_the_process_sees_eof_at_once(agent: Client) -> None:
    result = agent.run(["cat"], stdin=False)  # a cat left waiting would never exit
    assert result.stdout == b"" and result.exit["exit_code"] == 0


def test_env_is_merged_and_cwd_is_used(agent: Client, tmp_path: Path) -> None:
    result = agent.sh(
        'echo "$FOO|${PATH:+has-path}"; pwd -P', env={"FOO": "b a r"}, cwd=str(tmp_path)
    )
    assert result.stdout == f"b a r|has-path\n{tmp_path.resolve()}\n".encode()


def test_program_not_found_gives_error_and_127(agent: Client) -> None:
    result = agent.run(["no-such-program-for-airlock"], xid=5)
    error = result.header("error")
    assert result.types == ["error", "exit"]
    assert error["id"] == 5 and "no-such-program" in error["message"]
    assert result.exit["exit_code"] == 127 and result.exit["signal"] is None


def test_permission_denied_gives_error_and_126(agent: Client, tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho no\n")
    script.chmod(0o644)
    result = agent.run([str(script)])
    assert result.types == ["error", "exit"] and result.exit["exit_code"] == 126


def test_max_output_truncates_each_stream_and_keeps_draining(agent: Client) -> None:
    result = agent.sh("head -c 300000 /dev/zero; printf abc >&2", max_output=1000, chunk=256)
    outputs = [(h["stream"], len(p)) for h, p in result.frames if h["type"] == "output"]
    assert all(size <= 256 for _, size in outputs)
    assert result.stdout == b"\0" * 1000 and result.stderr == b"abc"
    markers = [i for i, (h, _) in enumerate(result.frames) if h["type"] == "truncated"]
    assert len(markers) == 1 and result.frames[markers[0]][0]["stream"] == "stdout"
    last_stdout = max(
        i
        for i, (h, _) in enumerate(result.frames)
        if h.get("stream") == "stdout" and h["type"] == "output"
    )
    assert last_stdout < markers[0]
    assert result.exit["exit_code"] == 0
    assert result.exit["stdout_bytes"] == 1000 and result.exit["stderr_bytes"] == 3
    assert result.exit["dropped"] == {"stdout": 299000, "stderr": 0}


def test_timeout_kills_the_whole_group_and_keeps_earlier_output(agent: Client) -> None:
    result = agent.sh("echo before; sleep 3600 & echo $!; sleep 3600", timeout=START_S)
    child = int(result.stdout.split()[1])
    assert result.stdout.startswith(b"before\n")
    assert result.exit["timed_out"] is True and result.exit["signal"] == signal.SIGTERM
    assert result.exit["duration"] >= START_S  # not before the timeout
    assert gone(result.header("started")["pid"]) and gone(child)


def test_timeout_escalates_to_sigkill_after_the_grace() -> None:
    program = agent_program()
    quicker = program.replace("KILL_GRACE = 2.0", "KILL_GRACE = 0.3")
    assert quicker != program
    client = Client(packed(quicker))
    try:
        result = client.sh("trap '' TERM; echo ready; sleep 3600", timeout=START_S)
        assert result.stdout == b"ready\n" and result.exit["timed_out"] is True
        assert result.exit["signal"] == signal.SIGKILL
    finally:
        assert client.close() == 0


def test_background_child_holding_pipes_does_not_delay_exit(agent: Client) -> None:
    result = agent.sh("sleep 3600 & echo $!")  # the exit came: it did not wait the hour
    assert result.exit["exit_code"] == 0
    assert gone(int(result.stdout))  # it held our pipes, so its group was killed


def test_background_child_with_redirected_output_is_left_running(agent: Client) -> None:
    result = agent.sh("sleep 3600 >/dev/null 2>&1 & echo $!")
    pid = int(result.stdout)
    try:
        assert result.exit["exit_code"] == 0
        assert alive(pid)  # the exit was reported while it runs: not waited for
    finally:
        os.kill(pid, signal.SIGKILL)


def test_closed_output_but_running_process_is_waited_for(agent: Client) -> None:
    result = agent.sh("echo early; exec >&- 2>&-; sleep 1; exit 7")
    # 7 exists only once the process has exited, long after its output closed
    assert result.stdout == b"early\n" and result.exit["exit_code"] == 7


def test_concurrent_execs_are_multiplexed(agent: Client, tmp_path: Path) -> None:
    # A barrier: each exec waits until all five have started. Run one after another,
    # the first would wait forever (and the collect's budget would end the test).
    barrier = (
        f'touch {tmp_path}/"$0"; until [ "$(ls {tmp_path} | wc -l)" -ge 5 ]; do sleep 0.01; done'
    )
    for xid in range(1, 6):
        loop = f"for i in 1 2 3 4; do echo {xid}-$i; sleep 0.1; done"
        agent.start(xid, ["sh", "-c", f"{barrier}; {loop}", str(xid)])
    results = {xid: agent.collect(xid) for xid in range(1, 6)}
    for xid, result in results.items():
        assert result.stdout == "".join(f"{xid}-{i}\n" for i in range(1, 5)).encode()
        assert result.exit["exit_code"] == 0


def test_signal_frame_cancels_a_running_exec(agent: Client) -> None:
    agent.start(4, ["sh", "-c", "sleep 3600 & wait"])
    agent.next_for(4)
    agent.send({"type": "signal", "id": 4, "signal": 15})
    result = agent.collect(4)  # it exits at all: the hour's sleep did not run out
    assert result.exit["signal"] == 15


def test_ping_pong(agent: Client) -> None:
    agent.send({"type": "ping", "id": 42})
    assert agent.next_for(42) == ({"type": "pong", "id": 42}, b"")


def test_bad_requests_get_errors_and_the_agent_keeps_serving(agent: Client) -> None:
    agent.start(1, ["sleep", "30"])
    assert agent.next_for(1)[0]["type"] == "started"
    bad: list[dict[str, Any]] = [
        {"type": "exec", "id": 1, "argv": ["true"]},  # duplicate of a running exec
        {"type": "exec", "id": 2},
        {"type": "exec", "id": 3, "argv": ["true"], "env": {"A": 1}},
        {"type": "exec", "id": 4, "argv": ["true"], "timeout": "soon"},
        {"type": "stdin", "id": 1},  # started without stdin
        {"type": "signal", "id": 1, "signal": 999},
        {"type": "stdin_close", "id": 9},  # no such exec
        {"type": "launch", "id": 5},
    ]
    for request in bad:
        agent.send(request)
        header = agent.next_for(request["id"])[0]
        assert header["type"] == "error" and header["message"], request
        if request["type"] == "exec" and request["id"] != 1:  # 1 is running: not ended
            assert agent.next_for(request["id"])[0]["exit_code"] == 126, request
    agent.send({"type": "exec", "id": "x", "argv": ["true"]})
    assert agent.next_for(None)[0]["type"] == "error"
    agent.send({"type": "signal", "id": 1, "signal": 9})
    assert agent.collect(1).exit["signal"] == 9
    assert agent.run(["true"], xid=1).exit["exit_code"] == 0  # the id is free again


def test_malformed_frame_stream_sends_error_and_exits_2(agent: Client) -> None:
    agent.send_raw(struct.pack(">I", 10) + b"{bad json\n")
    header = agent.recv()[0]
    assert header["type"] == "error" and header["id"] is None
    assert agent.proc.wait(timeout=WAIT_S) == 2


def test_oversize_frame_exits_2(agent: Client) -> None:
    agent.send_raw(b"GET / HTTP/1.1\r\n")
    assert agent.recv()[0]["type"] == "error"
    assert agent.proc.wait(timeout=WAIT_S) == 2


def test_channel_eof_kills_running_execs_and_exits_0(agent: Client) -> None:
    agent.start(1, ["sh", "-c", "sleep 30 & echo $!; wait"])
    main = agent.next_for(1)[0]["pid"]
    child = int(agent.next_for(1)[1])
    assert alive(main) and alive(child)
    assert agent.proc.stdin is not None
    agent.proc.stdin.close()
    assert agent.proc.wait(timeout=WAIT_S) == 0
    assert gone(main) and gone(child)


def test_shutdown_kills_everything_and_exits_0(agent: Client) -> None:
    agent.start(1, ["sleep", "30"])
    pid = agent.next_for(1)[0]["pid"]
    agent.send({"type": "shutdown"})
    assert agent.proc.wait(timeout=WAIT_S) == 0
    assert agent.collect(1).exit["signal"] == 9 and gone(pid)


def test_memory_stays_bounded_under_heavy_output(agent: Client) -> None:
    result = agent.sh("head -c 50000000 /dev/zero", max_output=1 << 20, timeout=WAIT_S)
    assert result.exit["stdout_bytes"] == 1 << 20 and len(result.stdout) == 1 << 20
    assert result.exit["dropped"]["stdout"] == 50_000_000 - (1 << 20)
    assert vm_kib(agent.proc.pid, "VmHWM") < 60 * 1024  # peak RSS of the agent


def test_slow_host_applies_backpressure_instead_of_buffering(agent: Client) -> None:
    size = 8 << 20
    agent.send({"type": "ping", "id": 0})
    agent.next_for(0)
    baseline = vm_kib(agent.proc.pid, "VmRSS")
    agent.reading.clear()
    agent.start(1, ["head", "-c", str(size), "/dev/zero"], max_output=size)
    main = agent.next_for(1)[0]["pid"]
    # The event, not a pause: head blocks writing to its full pipe. An agent that buffered
    # instead would let it write all 8 MB and exit, never blocked.
    assert blocked_writing(main), "head never blocked on its pipe: the agent buffered it"
    assert vm_kib(agent.proc.pid, "VmRSS") - baseline < 4 * 1024
    agent.reading.set()
    result = agent.collect(1)
    assert result.stdout == b"\0" * size and result.exit["exit_code"] == 0


def test_sigterm_to_the_agent_stops_it_cleanly(agent: Client) -> None:
    agent.start(1, ["sleep", "30"])
    pid = agent.next_for(1)[0]["pid"]
    agent.proc.send_signal(signal.SIGTERM)
    assert agent.proc.wait(timeout=WAIT_S) == 0
    assert gone(pid)


def test_oom_counter_is_read_from_the_first_readable_cgroup_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1 = tmp_path / "memory.oom_control"
    v1.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n")
    monkeypatch.setattr(exec_agent, "OOM_COUNTERS", (str(tmp_path / "missing"), str(v1)))
    assert exec_agent._oom_kills() == 4
    monkeypatch.setattr(exec_agent, "OOM_COUNTERS", (str(tmp_path / "missing"),))
    assert exec_agent._oom_kills() is None


# --- per-exec flow control ------------------------------------------------------------

WINDOW = 64 << 10  # a small window, so an exec runs out of credit at once
FRAME_CREDIT = exec_agent.FRAME_CREDIT


class Credit:
    """The host's side of one exec's credit: what the agent may still send."""

    def __init__(self, agent: Client, xid: int, window: int = WINDOW) -> None:
        self.agent, self.xid, self.left, self.received = agent, xid, window, 0

    def take(self) -> Frame:
        """The exec's next frame; an output frame must be within the credit."""
        frame = self.agent.next_for(self.xid)
        if frame[0]["type"] == "output":
            self.left -= len(frame[1]) + FRAME_CREDIT
            self.received += len(frame[1])
            assert self.left >= 0, "the agent sent output beyond its credit"
        return frame

    def use_up(self) -> None:
        """Take output until the agent cannot send another byte."""
        while self.left > FRAME_CREDIT:
            assert self.take()[0]["type"] == "output"

    def grant(self, size: int) -> None:
        self.agent.send({"type": "credit", "id": self.xid, "bytes": size})
        self.left += size


def flood(agent: Client, xid: int, size: int, **opts: Any) -> tuple[Credit, int]:
    """Start ``head`` writing ``size`` zeros, all of them to be sent; its credit, its pid."""
    agent.start(xid, ["head", "-c", str(size), "/dev/zero"], max_output=size, window=WINDOW,
                **opts)  # fmt: skip
    started = agent.next_for(xid)[0]
    assert started["type"] == "started"
    return Credit(agent, xid), started["pid"]


def test_an_exec_out_of_credit_pauses_alone_and_resumes_on_credit(agent: Client) -> None:
    size = 4 << 20
    credit, pid = flood(agent, 1, size)
    credit.use_up()
    # The host reads everything all along: the command blocks on its pipe because its
    # exec has no credit left, not because the channel is full.
    assert blocked_writing(pid), "the command was never paused"
    # Everything else goes on: a ping, an exec fed through stdin, a signal, exits.
    agent.send({"type": "ping", "id": 9})
    assert agent.next_for(9) == ({"type": "pong", "id": 9}, b"")
    agent.start(2, ["cat"], stdin=True, window=WINDOW)
    agent.send({"type": "stdin", "id": 2}, b"fed")
    agent.send({"type": "stdin_close", "id": 2})
    fed = agent.collect(2)
    assert fed.stdout == b"fed" and fed.exit["exit_code"] == 0
    agent.start(3, ["sleep", "3600"])
    assert agent.next_for(3)[0]["type"] == "started"
    agent.send({"type": "signal", "id": 3, "signal": signal.SIGTERM})
    assert agent.collect(3).exit["signal"] == signal.SIGTERM
    assert alive(pid)  # still waiting for credit
    # Credit in odd sizes, each only once the last is used up: never more output than
    # granted, and all of it in the end.
    data = bytearray(credit.received)
    while True:
        if credit.left <= FRAME_CREDIT:
            credit.grant(100_003)
        header, payload = credit.take()
        if header["type"] == "exit":
            break
        assert header["type"] == "output"
        data += payload
    assert len(data) == size and not data.strip(b"\0")
    assert header["exit_code"] == 0 and header["stdout_bytes"] == size
    assert header["dropped"] == {"stdout": 0, "stderr": 0}


def test_stdout_and_stderr_share_the_credit(agent: Client) -> None:
    size = 1 << 20
    script = f"head -c {size} /dev/zero & head -c {size} /dev/zero >&2; wait"
    agent.start(1, ["sh", "-c", script], max_output=size, window=WINDOW)
    assert agent.next_for(1)[0]["type"] == "started"
    credit = Credit(agent, 1)
    got = {"stdout": 0, "stderr": 0}
    while True:
        if credit.left <= FRAME_CREDIT:
            credit.grant(WINDOW)
        header, payload = credit.take()  # asserts each frame is within the credit
        if header["type"] == "exit":
            break
        got[header["stream"]] += len(payload)
    assert got == {"stdout": size, "stderr": size} and header["exit_code"] == 0


def test_output_past_max_output_needs_no_credit(agent: Client) -> None:
    # Dropped output is not sent, so it uses no credit: the command runs to its end on
    # the first window alone.
    agent.start(1, ["head", "-c", "5000000", "/dev/zero"], max_output=1000, window=WINDOW)
    result = agent.collect(1)
    assert result.stdout == b"\0" * 1000 and result.exit["exit_code"] == 0
    assert result.exit["dropped"]["stdout"] == 5_000_000 - 1000
    assert "truncated" in result.types


def test_timeout_fires_while_an_exec_waits_for_credit(agent: Client) -> None:
    credit, pid = flood(agent, 1, 64 << 20, timeout=START_S)
    credit.use_up()
    assert gone(pid)  # killed by its timeout, without a byte of credit more
    # What it wrote before the kill still comes, as credit does, then the exit.
    credit.grant(64 << 20)
    while (frame := credit.take())[0]["type"] != "exit":
        assert frame[0]["type"] == "output"
    exit_ = frame[0]
    assert exit_["timed_out"] is True and exit_["signal"] == signal.SIGTERM
    assert exit_["stdout_bytes"] == credit.received < 64 << 20


def test_cancel_kills_an_exec_waiting_for_credit_and_drops_its_output(agent: Client) -> None:
    credit, pid = flood(agent, 1, 64 << 20)
    credit.use_up()
    assert blocked_writing(pid)
    agent.send({"type": "cancel", "id": 1})
    exit_ = credit.take()[0]  # at once, with no more credit and no more output
    assert exit_["type"] == "exit" and exit_["signal"] == signal.SIGKILL and gone(pid)
    assert exit_["stdout_bytes"] == credit.received
    assert exit_["dropped"]["stdout"] > 0  # what it had read but not sent, counted


def test_shutdown_ends_execs_waiting_for_credit(agent: Client) -> None:
    credit, pid = flood(agent, 1, 64 << 20)
    credit.use_up()
    agent.send({"type": "shutdown"})
    assert agent.proc.wait(timeout=WAIT_S) == 0 and gone(pid)
    assert credit.take()[0]["type"] == "error"  # "the sandbox is stopping"
    assert credit.take()[0]["signal"] == signal.SIGKILL


def test_bad_flow_control_frames_get_errors_and_late_ones_are_ignored(agent: Client) -> None:
    for window in (0, FRAME_CREDIT, "big", 1.5):
        agent.start(1, ["true"], window=window)
        header = agent.next_for(1)[0]
        assert header["type"] == "error" and "window" in header["message"], window
        assert agent.next_for(1)[0]["exit_code"] == 126, window  # refused, and ended
    agent.start(2, ["sleep", "3600"], window=WINDOW)
    assert agent.next_for(2)[0]["type"] == "started"
    for size in (0, -5, "all", None):
        agent.send({"type": "credit", "id": 2, "bytes": size})
        header = agent.next_for(2)[0]
        assert header["type"] == "error" and "credit" in header["message"], size
    # Credit and cancel for an exec that has ended are normal (they cross its exit).
    agent.send({"type": "credit", "id": 77, "bytes": 4096})
    agent.send({"type": "cancel", "id": 77})
    agent.send({"type": "ping", "id": 78})
    assert agent.recv() == ({"type": "pong", "id": 78}, b"")  # and nothing before it
    agent.send({"type": "cancel", "id": 2})
    assert agent.collect(2).exit["signal"] == signal.SIGKILL
