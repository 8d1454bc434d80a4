"""Commands started through root's setpriv and GNU env: real processes on this host,
as a user other than the test's own (the test runs as root)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest

from sandbox import command_spawn, command_user, user_helper

NOBODY = command_user.CommandUser(65534, 65534, "/nonexistent")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="changing user needs root")


@pytest.fixture(scope="module")
def helper() -> user_helper.UserHelper:
    found = user_helper.probe(NOBODY)
    if found is None:
        pytest.skip("this host has no root-owned setpriv with a GNU env")
    return found


def run(
    helper: user_helper.UserHelper, argv: list[str], cwd: str | None = "/tmp", **env: str
) -> tuple[int, bytes, bytes]:
    full = {"PATH": "/usr/bin:/bin", **env}
    command, status = command_spawn.spawn(argv, NOBODY, False, executable=None, env=full,
                                          cwd=cwd, confine=None, helper=helper)  # fmt: skip
    assert status is None  # nothing to wait for: setpriv ran when spawn returned
    out, err = command.stdout.read(), command.stderr.read()
    deadline = time.monotonic() + 10
    while command.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert command.returncode is not None
    return command.returncode, out, err


def test_the_command_runs_as_the_user_in_its_directory_with_its_environment(
    helper: user_helper.UserHelper,
) -> None:
    script = 'id -u; id -g; id -G; pwd; echo "$X"; echo $$ $(ps -o sid= -p $$)'
    code, out, err = run(helper, ["sh", "-c", script], X="a=b c")
    assert code == 0, err
    *lines, session = out.decode().splitlines()
    assert lines == ["65534", "65534", "65534", "/tmp", "a=b c"], lines
    pid, sid = session.split()
    assert pid == sid  # a session of its own, as the fork path's setsid made
    code, out, err = run(helper, ["env"], **{"-i": "1", "LD_DEBUG": "x"})
    assert code == 0 and sorted(out.split()) == [b"-i=1", b"LD_DEBUG=x", b"PATH=/usr/bin:/bin"]
    # the loader warns of LD_DEBUG=x in each program that sees it: the command alone
    assert err.count(b"LD_DEBUG=help") == 1, err


def test_the_session_is_the_commands_own_and_failures_read_as_an_exec_would(
    helper: user_helper.UserHelper,
) -> None:
    with pytest.raises(FileNotFoundError):
        run(helper, ["no-such-program-anywhere"])
    with pytest.raises(FileNotFoundError):
        run(helper, ["true"], cwd="/nonexistent/dir")
    with pytest.raises(NotADirectoryError):
        run(helper, ["true"], cwd="/etc/hostname")
    code, _, err = run(helper, ["true"], cwd="/root")  # root's 0700: not for this user
    assert code == 125 and b"cannot change directory" in err, err


def test_only_what_env_cannot_misread_goes_through_it(helper: user_helper.UserHelper) -> None:
    assert helper.accepts(["ls", "-l"], {"A": "x=y"}, None)
    assert not helper.accepts(["A=b", "ls"], {}, None)  # env would take it for a variable
    assert not helper.accepts(["ls"], {"": "x"}, None)
    assert not helper.accepts(["ls"], {"A=B": "x"}, None)
    assert not helper.accepts(["ls"], {}, "/bin/ls")  # another program than argv[0]
    args = helper.arguments(["ls", "-l"], {"A": "1"}, "/w")
    assert args[: args.index("--")] == [helper.setpriv, "--reuid=65534", "--regid=65534",
                                        "--clear-groups"]  # fmt: skip
    assert args[args.index("--") + 1 :] == [helper.env, "-i", "-C", "/w", "--", "A=1", "ls", "-l"]


def test_a_confined_command_is_still_forked(helper: user_helper.UserHelper) -> None:
    command, status = command_spawn.spawn(["true"], NOBODY, False, executable=None,
                                          env={"PATH": "/usr/bin:/bin"}, cwd="/tmp",
                                          confine=lambda: None, helper=helper)  # fmt: skip
    assert status is not None and asyncio.run(command_spawn.exec_status(status, 10)) is None
    while command.poll() is None:
        time.sleep(0.01)
    assert command.returncode == 0


def test_no_helper_for_the_agents_own_user_nor_one_another_user_could_replace(
    tmp_path: Path,
) -> None:
    assert user_helper.probe(command_user.parse(None)) is None  # no change of user
    assert user_helper._root_owned(user_helper.SETPRIV)
    link = tmp_path / "setpriv"
    link.symlink_to(user_helper.SETPRIV)  # what counts is where it leads: root's all the way
    assert user_helper._root_owned(str(link))
    copy = tmp_path / "copy"  # the same program, under /tmp: anyone may write there
    copy.write_bytes(Path(user_helper.SETPRIV).read_bytes())
    assert not user_helper._root_owned(str(copy))
    owned = tmp_path / "owned"
    owned.mkdir(mode=0o755)
    os.chown(owned, 1000, 1000)  # a directory of another user
    assert not user_helper._root_owned(str(owned))


def test_no_descriptor_of_the_agent_is_left_for_a_command(
    helper: user_helper.UserHelper,
) -> None:
    leaked = os.open(os.devnull, os.O_RDONLY)
    os.set_inheritable(leaked, True)
    try:
        user_helper.keep_descriptors_from_commands()
        assert not os.get_inheritable(leaked)
        code, out, _ = run(helper, ["ls", "/proc/self/fd"])
        assert code == 0 and out.split() == [b"0", b"1", b"2", b"3"], out
    finally:
        os.close(leaked)


def test_what_the_user_cannot_reach_reads_the_same_whether_it_exists_or_not(
    helper: user_helper.UserHelper, tmp_path: Path
) -> None:
    """The agent looks for the command and its directory as the user: root's look
    would tell a command which files exist where it may not see."""
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    present = private / "present"
    present.write_bytes(b"#!/bin/sh\n")
    present.chmod(0o755)
    for target in (present, private / "absent"):
        with pytest.raises(PermissionError):
            run(helper, [str(target)])
        with pytest.raises(PermissionError):
            run(helper, ["true"], cwd=str(target))
    with pytest.raises(PermissionError):
        run(helper, ["present"], PATH=str(private))
    with pytest.raises(PermissionError):
        run(helper, ["absent"], PATH=str(private))


def test_no_helper_where_a_user_or_group_is_named_like_our_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """setpriv 2.38 reads ``--reuid=1000`` as a name first: in an image whose passwd
    has a user named "1000" with uid 0, it runs the command as root (checked in a
    container). The agent then forks instead."""
    import grp
    import pwd

    real_user, real_group = pwd.getpwnam, grp.getgrnam
    as_root = pwd.struct_passwd(("65534", "x", 0, 0, "", "/", "/bin/sh"))
    root_group = grp.struct_group(("65534", "x", 0, []))

    def users(name: str) -> pwd.struct_passwd:
        return as_root if name == "65534" else real_user(name)

    def groups(name: str) -> grp.struct_group:
        return root_group if name == "65534" else real_group(name)

    monkeypatch.setattr(pwd, "getpwnam", users)
    assert user_helper.probe(NOBODY) is None
    monkeypatch.setattr(pwd, "getpwnam", real_user)
    monkeypatch.setattr(grp, "getgrnam", groups)
    assert user_helper.probe(NOBODY) is None
    monkeypatch.setattr(grp, "getgrnam", real_group)
    assert user_helper.probe(NOBODY) is not None
