"""The oracle's judgement on literal strace lines: reopened descriptors, payloads, execs."""

from __future__ import annotations

from orchestrator.devtools.prove.oracle import Observation, image_program, judge, judged_argv
from orchestrator.devtools.prove.trace import read_trace

WRAPPER = '7 execve("/usr/bin/bash", ["bash", "-c", "x"], 0x1 /* 9 vars */) = 0'
LISTING = frozenset({"M ./notes.txt\tf 644 6 1 "})


def _judge(
    *lines: str, commands: list[list[str]] | None = None, fixture: str = "plain"
) -> dict[str, list[str]]:
    trace = read_trace("\n".join([WRAPPER, *lines]))
    observation = Observation("x", trace, LISTING, LISTING, False, 0, False, fixture)
    found: dict[str, list[str]] = {}
    for violation in judge(
        observation, commands if commands is not None else [["echo"]]
    ).violations:
        found.setdefault(violation.kind, []).append(violation.detail)
    return found


def test_a_reopen_through_dev_stdout_is_a_write_to_the_file_behind_it() -> None:
    """`echo x 1<.git/config >/dev/stdout` truncates .git/config."""
    found = _judge(
        '7 openat(AT_FDCWD</workspace>, "/dev/stdout", O_WRONLY|O_CREAT|O_TRUNC, 0666)'
        " = 3</workspace/.git/config>"
    )
    assert list(found) == ["write"]
    assert "/dev/stdout -> /workspace/.git/config" in found["write"][0]


def test_reopens_through_dev_fd_and_proc_self_fd_are_judged_after_resolution() -> None:
    for path in ("/dev/fd/3", "/proc/self/fd/3", "/proc/7/fd/3", "/proc/thread-self/fd/3"):
        found = _judge(
            f'7 openat(AT_FDCWD</workspace>, "{path}", O_WRONLY|O_CREAT|O_APPEND, 0666)'
            " = 4</workspace/notes.txt>"
        )
        assert "write" in found and "/workspace/notes.txt" in found["write"][0], path


def test_a_reopen_of_a_pipe_or_the_null_device_is_a_sink() -> None:
    for opened in ("pipe:[4242]", "/dev/null", "/dev/pts/0", "socket:[77]"):
        found = _judge(
            f'7 openat(AT_FDCWD</workspace>, "/dev/stdout", O_WRONLY|O_CREAT|O_TRUNC, 0666)'
            f" = 3<{opened}>"
        )
        assert found == {}, opened


def test_a_refused_reopen_is_an_attempt_and_a_missing_descriptor_is_not() -> None:
    refused = _judge(
        '7 openat(AT_FDCWD</workspace>, "/dev/stdout", O_WRONLY|O_CREAT|O_TRUNC, 0666)'
        " = -1 EACCES (Permission denied)"
    )
    assert list(refused) == ["write-attempt"]
    closed = _judge(
        '7 openat(AT_FDCWD</workspace>, "/dev/fd/9", O_WRONLY|O_CREAT|O_TRUNC, 0666)'
        " = -1 ENOENT (No such file or directory)"
    )
    assert closed == {}


def test_a_marker_program_run_is_a_payload_of_its_class() -> None:
    found = _judge(
        '8 execve("/tmp/airlock-oracle/bin/pwned-gitconfig-core-fsmonitor",'
        ' ["/tmp/airlock-oracle/bin/pwned-gitconfig-core-fsmonitor", "2", "1"],'
        " 0x1 /* 9 vars */) = 0",
        commands=[["git", "status"]],
        fixture="git-config",
    )
    (payload,) = found["payload"]
    assert "gitconfig-core-fsmonitor" in payload and "repository config runs programs" in payload
    assert "session started from git-config" in payload
    assert "not a program of the image" in found["exec"][0]


def test_a_marker_file_written_or_tried_is_a_payload() -> None:
    for result in ("3</tmp/pwned-home-trace2-eventtarget>", "-1 EACCES (Permission denied)"):
        found = _judge(
            '7 openat(AT_FDCWD</workspace>, "/tmp/pwned-home-trace2-eventtarget",'
            f" O_WRONLY|O_CREAT|O_APPEND, 0666) = {result}"
        )
        assert "home-trace2-eventtarget" in found["payload"][0], result


def test_sed_backups_named_by_a_marker_suffix_are_one_payload() -> None:
    found = _judge(
        *(
            f'7 renameat(AT_FDCWD</workspace>, "{name}", AT_FDCWD</workspace>,'
            f' "pwned-names-sed-in-place-0-{name}") = 0'
            for name in ("README.md", "notes.txt")
        ),
        commands=[["sed"]],
    )
    assert len(found["payload"]) == 1 and "names-sed-in-place-0 ran" in found["payload"][0]


def test_a_write_to_a_file_whose_name_merely_holds_a_marker_is_no_payload() -> None:
    found = _judge(
        '7 openat(AT_FDCWD</workspace>, "b[$(: >pwned-data-filename)]", O_WRONLY|O_TRUNC)'
        " = 3</workspace/b[$(: \\76pwned-data-filename)]>"
    )
    assert "payload" not in found and "write" in found


def test_a_program_of_the_repository_is_never_read_only_whatever_its_name() -> None:
    """`PATH=.:$PATH cat` runs the repository's `cat`: not /usr/bin/cat."""
    line = '8 execve("/workspace/cat", ["cat", "notes.txt"], 0x1 /* 9 vars */) = 0'
    found = _judge(line, commands=[["cat", "notes.txt"]])
    assert "/workspace/cat ran: not a program of the image" in found["exec"][0]
    system = line.replace("/workspace/cat", "/usr/bin/cat")
    assert _judge(system, commands=[["cat", "notes.txt"]]) == {}


def test_git_helpers_are_judged_as_the_git_subcommand_they_implement() -> None:
    line = (
        '8 execve("/usr/lib/git-core/git-diff", ["git-diff", "--output=x"], 0x1 /* 9 vars */) = 0'
    )
    (run,) = read_trace(line).execs
    assert judged_argv(run) == ["git", "diff", "--output=x"]
    found = _judge(line, commands=[["git", "diff"]])
    assert list(found) == ["exec"] and "git diff --output=x" in found["exec"][0]
    plain = line.replace('"--output=x"', '"--stat"')
    assert _judge(plain, commands=[["git", "diff"]]) == {}


def test_many_runs_of_one_program_are_one_violation_with_a_count() -> None:
    run = '8 execve("/workspace/tools/run", ["tools/run"], 0x1 /* 9 vars */) = 0'
    found = _judge(run, run.replace("8 ", "9 ", 1), run.replace("8 ", "10 ", 1))
    assert len(found["exec"]) == 1 and "(and 2 more runs)" in found["exec"][0]


def test_programs_outside_the_sessions_writable_mounts_are_the_images() -> None:
    assert image_program("/usr/bin/cat") and image_program("/usr/lib/airlock/git-guard/git.real")
    for path in ("/workspace/cat", "tools/run", "./cat", "/tmp/x", "/dev/shm/x", "/home/agent/x"):
        assert not image_program(path), path


def test_the_image_git_guard_is_judged_as_the_git_it_runs() -> None:
    """/usr/bin/git is a guard that runs the real git and its own neutral helpers."""
    found = _judge(
        '8 execve("/usr/bin/git", ["git", "diff"], 0x1 /* 9 vars */) = 0',
        '9 execve("/usr/lib/airlock/git-guard/git.real", ["git", "config", "--list", "-z"],'
        " 0x1 /* 9 vars */) = 0",
        '10 execve("/usr/lib/airlock/git-guard/git.real", ["git", "diff"], 0x1 /* 9 vars */) = 0',
        '11 execve("/usr/lib/airlock/git-guard/external-diff", ["external-diff", "a", "b"],'
        " 0x1 /* 9 vars */) = 0",
        commands=[["git", "diff"]],
    )
    assert found == {}
    written = _judge(
        '10 execve("/usr/lib/airlock/git-guard/git.real", ["git", "diff", "--output=x"],'
        " 0x1 /* 9 vars */) = 0",
        commands=[["git", "diff"]],
    )
    assert "git diff --output=x" in written["exec"][0]


def test_scratch_folders_made_and_removed_under_tmp_are_not_writes() -> None:
    made = [
        '8 mkdir("/tmp/git-blob-Ab12", 0700) = 0',
        '8 openat(AT_FDCWD</workspace>, "/tmp/git-blob-Ab12/notes.txt", O_WRONLY|O_CREAT|O_TRUNC,'
        " 0666) = 3</tmp/git-blob-Ab12/notes.txt>",
        '8 unlink("/tmp/git-blob-Ab12/notes.txt") = 0',
    ]
    assert _judge(*made, '8 rmdir("/tmp/git-blob-Ab12") = 0') == {}
    assert "write" in _judge(*made)  # the folder stays: a write


def test_a_helper_of_a_helper_is_part_of_the_tool() -> None:
    """git's guard runs the real git, which runs cat for the textconv drivers the guard
    neutralized: cat is git's helper, run by its helper (found by the 30-minute run)."""
    found = _judge(
        '7 execve("/usr/bin/git", ["git", "blame", "notes.txt"], 0x1 /* 9 vars */) = 0',
        '7 execve("/usr/lib/airlock/git-guard/git.real", ["git", "blame", "notes.txt"],'
        " 0x1 /* 9 vars */) = 0",
        "7 clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD) = 8",
        '8 execve("/usr/bin/cat", ["/usr/bin/cat", "notes.txt"], 0x1 /* 9 vars */) = 0',
        commands=[["git", "blame", "notes.txt"]],
    )
    assert found == {}
    # control: cat run by a program whose helper it is not is still seen
    other = _judge(
        '7 execve("/usr/bin/ls", ["ls"], 0x1 /* 9 vars */) = 0',
        "7 clone(child_stack=NULL, flags=CLONE_CHILD_SETTID|SIGCHLD) = 8",
        '8 execve("/usr/bin/cat", ["/usr/bin/cat", "notes.txt"], 0x1 /* 9 vars */) = 0',
        commands=[["ls"]],
    )
    assert list(other) == ["differential"]


def test_an_option_that_only_waits_is_no_violation_but_an_edit_is() -> None:
    """`tail {--p,}` ran `tail --p` (--pid): it waits, it does not write; `sed p -- -ix`
    has a file named -ix, not the option (found by the 30-minute run)."""
    for argv in (["tail", "--p"], ["sed", "p", "--", "-ix", "notes.txt"]):
        shown = ", ".join(f'"{a}"' for a in argv)
        found = _judge(
            f'7 execve("/usr/bin/{argv[0]}", [{shown}], 0x1 /* 9 vars */) = 0', commands=[argv]
        )
        assert found == {}, argv
    edits = _judge(
        '7 execve("/usr/bin/sed", ["sed", "p", "-ix", "notes.txt"], 0x1 /* 9 vars */) = 0',
        commands=[["sed", "p", "-ix", "notes.txt"]],
    )
    assert "sed -i edits files" in edits["exec"][0]
