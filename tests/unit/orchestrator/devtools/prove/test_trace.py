"""The strace parser on literal strace lines (strace 6.1, `-f -qq -y -o FILE`)."""

from __future__ import annotations

from orchestrator.devtools.prove.trace import (
    TRACED_CALLS,
    fd_path,
    parse_array,
    parse_calls,
    parse_string,
    read_trace,
    split_args,
)

WRAPPER = (
    '22    execve("/usr/bin/bash", ["bash", "-c", "ls -l / > /dev/null"], '
    "0x7ffd994c8028 /* 9 vars */) = 0"
)


def test_execve_with_escaped_args() -> None:
    line = (
        '30    execve("/usr/bin/printf", ["printf", "%s", "a\\\\nb\\"c\\033\\x01\\303\\251\\n"], '
        "0x7ffde98e15f0 /* 9 vars */) = 0"
    )
    (call,) = parse_calls(line)
    assert (call.pid, call.name, call.retval, call.ok) == (30, "execve", 0, True)
    assert parse_array(call.args[1]) == (["printf", "%s", 'a\\nb"c\x1b\x01é\n'], False)


def test_strings_cut_by_s_and_long_arrays_are_marked() -> None:
    assert parse_string('"hostname foo; date"...') == ("hostname foo; date", True)
    assert parse_string('"x"') == ("x", False)
    assert parse_array('["/bin/echo", "1", "2", ...]') == (["/bin/echo", "1", "2"], True)
    assert parse_string("NULL") is None


def test_octal_escapes_are_greedy_up_to_three_digits() -> None:
    assert parse_string('"\\0\\1a\\0012"') == ("\x00\x01a\x012", False)


def test_openat_flags_and_write_detection() -> None:
    text = "\n".join(
        [
            '23    openat(AT_FDCWD</workspace>, "/dev/null", O_WRONLY|O_CREAT|O_TRUNC, 0666)'
            " = 3</dev/null>",
            '23    openat(AT_FDCWD</workspace>, "/etc/passwd", O_RDONLY|O_CLOEXEC)'
            " = 3</etc/passwd>",
            '23    openat(AT_FDCWD</workspace>, "out", O_WRONLY|O_CREAT|O_APPEND, 0666)'
            " = 4</workspace/out>",
        ]
    )
    trace = read_trace(text)
    assert [(w.path, w.ok, w.flags) for w in trace.writes] == [
        ("/dev/null", True, "O_WRONLY|O_CREAT|O_TRUNC"),
        ("/workspace/out", True, "O_WRONLY|O_CREAT|O_APPEND"),
    ]


def test_failed_calls_carry_their_errno() -> None:
    line = (
        '14    openat(AT_FDCWD</workspace>, "/dev/tty", O_RDWR|O_NONBLOCK)'
        " = -1 ENXIO (No such device or address)"
    )
    (call,) = parse_calls(line)
    assert (call.ok, call.error, call.retval) == (False, "ENXIO", -1)
    (write,) = read_trace(line).writes
    assert (write.path, write.ok, write.error) == ("/dev/tty", False, "ENXIO")


def test_unfinished_and_resumed_halves_are_joined() -> None:
    text = "\n".join(
        [
            WRAPPER,
            "22    clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|SIGCHLD,"
            " child_tidptr=0x7f96cb2c5a10) = 32",
            "32    vfork( <unfinished ...>",
            '34    execve("/usr/bin/gzip", ["gzip", "-cdfq", "--", "/etc/passwd"],'
            " 0x55e5ad720f30 /* 9 vars */ <unfinished ...>",
            "32    <... vfork resumed>)              = 34",
            "34    <... execve resumed>)             = 0",
            '34    openat(AT_FDCWD</workspace>, "x", O_WRONLY|O_CREAT <unfinished ...>',
            "34    <... openat resumed>, 0666)       = -1 EROFS (Read-only file system)",
        ]
    )
    calls = parse_calls(text)
    assert [c.name for c in calls] == ["execve", "clone", "vfork", "execve", "openat"]
    trace = read_trace(text)
    assert [(e.name, e.argv, e.caller) for e in trace.execs] == [
        ("bash", ["bash", "-c", "ls -l / > /dev/null"], None),
        ("gzip", ["gzip", "-cdfq", "--", "/etc/passwd"], "/usr/bin/bash"),
    ]
    (write,) = trace.writes
    assert (write.path, write.error, write.program) == ("/workspace/x", "EROFS", "/usr/bin/gzip")


def test_pid_prefixes_both_forms_and_no_prefix() -> None:
    text = "\n".join(
        [
            '[pid  4242] unlink("/tmp/x") = 0',
            'mkdir("d", 0777) = -1 EEXIST (File exists)',
            "7 --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=8} ---",
            "7 +++ exited with 0 +++",
        ]
    )
    calls = parse_calls(text)
    assert [(c.pid, c.name) for c in calls] == [(4242, "unlink"), (0, "mkdir")]


def test_exec_callers_follow_forks_and_failed_execs_do_not_change_the_image() -> None:
    text = "\n".join(
        [
            WRAPPER,
            '22    execve("/usr/bin/zgrep", ["zgrep", "x", "f"], 0x1 /* 9 vars */) = 0',
            "22    clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = 23",
            '23    execve("/usr/local/bin/gzip", ["gzip"], 0x1 /* 9 vars */)'
            " = -1 ENOENT (No such file or directory)",
            '23    execve("/usr/bin/gzip", ["gzip", "-cd"], 0x1 /* 9 vars */) = 0',
        ]
    )
    execs = read_trace(text).execs
    assert [(e.path, e.caller, e.ok) for e in execs] == [
        ("/usr/bin/bash", None, True),
        ("/usr/bin/zgrep", "/usr/bin/bash", True),
        ("/usr/local/bin/gzip", "/usr/bin/zgrep", False),
        ("/usr/bin/gzip", "/usr/bin/zgrep", True),
    ]


def test_y_paths_with_commas_parens_and_escaped_gt() -> None:
    line = (
        '13    openat(AT_FDCWD</workspace/a\\76b),c>, "x)>y", O_WRONLY|O_CREAT, 0666)'
        " = 3</workspace/a\\76b),c/x)\\76y>"
    )
    (call,) = parse_calls(line)
    assert call.args[1] == '"x)>y"'
    assert fd_path(call.args[0]) == "/workspace/a>b),c"
    (write,) = read_trace(line).writes
    assert write.path == "/workspace/a>b),c/x)>y"


def test_relative_paths_resolve_against_the_cwd_the_trace_showed() -> None:
    text = "\n".join(
        [
            '5    openat(AT_FDCWD</workspace/src>, "/etc/passwd", O_RDONLY) = 3</etc/passwd>',
            '5    mkdir("../new", 0777) = 0',
            '5    renameat2(AT_FDCWD</workspace>, "g", AT_FDCWD</workspace>, "h", RENAME_NOREPLACE)'
            " = 0",
            "5    ftruncate(3</workspace/f>, 0)     = 0",
            "5    utimensat(0</workspace/g>, NULL, [UTIME_NOW, UTIME_OMIT], 0) = 0",
            '5    symlinkat("h", AT_FDCWD</workspace>, "i") = 0',
        ]
    )
    assert [(w.call, w.path) for w in read_trace(text).writes] == [
        ("mkdir", "/workspace/new"),
        ("renameat2", "/workspace/g"),
        ("renameat2", "/workspace/h"),
        ("ftruncate", "/workspace/f"),
        ("utimensat", "/workspace/g"),
        ("symlinkat", "/workspace/i"),
    ]


def test_sockets_and_connects_share_an_id() -> None:
    text = "\n".join(
        [
            "14    socket(AF_UNIX, SOCK_STREAM|SOCK_CLOEXEC|SOCK_NONBLOCK, 0) = 3<socket:[961178]>",
            "14    connect(3<socket:[961178]>, {sa_family=AF_UNIX,"
            ' sun_path="/var/run/nscd/socket"}, 110) = -1 ENOENT (No such file or directory)',
            "26    socket(AF_INET, SOCK_STREAM|SOCK_CLOEXEC, IPPROTO_IP) = 4",
            "26    connect(4, {sa_family=AF_INET, sin_port=htons(80),"
            ' sin_addr=inet_addr("127.0.0.1")}, 16) = -1 ECONNREFUSED (Connection refused)',
        ]
    )
    uses = read_trace(text).sockets
    assert [(u.call, u.family, u.socket_id, u.ok) for u in uses] == [
        ("socket", "AF_UNIX", "socket:[961178]", True),
        ("connect", "AF_UNIX", "socket:[961178]", False),
        ("socket", "AF_INET", "26:4", True),
        ("connect", "AF_INET", "26:4", False),
    ]
    assert uses[1].address == "/var/run/nscd/socket"
    assert "127.0.0.1" in uses[3].address


def test_system_changes_are_writes_to_named_things() -> None:
    text = "\n".join(
        [
            '15    sethostname("foo", 3)             = -1 EPERM (Operation not permitted)',
            "16    clock_settime(CLOCK_REALTIME, {tv_sec=1577836800, tv_nsec=0})"
            " = -1 EPERM (Operation not permitted)",
        ]
    )
    assert [(w.path, w.error) for w in read_trace(text).writes] == [
        ("<hostname>", "EPERM"),
        ("<clock>", "EPERM"),
    ]


def test_split_args_keeps_nested_structures_whole() -> None:
    assert split_args('3, {a=1, b=[2, 3]}, "x, y", f(1, 2)') == [
        "3",
        "{a=1, b=[2, 3]}",
        '"x, y"',
        "f(1, 2)",
    ]


def test_lines_that_are_not_calls_are_ignored() -> None:
    text = "strace: Process 12 attached\n\n12    exit_group(0) = ?\n12    garbage"
    calls = parse_calls(text)
    assert [(c.name, c.ok) for c in calls] == [("exit_group", False)]


def test_traced_calls_cover_what_the_oracle_reports() -> None:
    assert {"execve", "openat", "socket", "connect", "clone", "vfork", "unlinkat"} <= set(
        TRACED_CALLS
    )


def test_a_child_that_execs_before_its_parents_vfork_returns_keeps_the_right_caller() -> None:
    text = "\n".join(
        [
            WRAPPER,
            '22    execve("/usr/bin/zgrep", ["zgrep", "x", "f.gz"], 0x1 /* 8 vars */) = 0',
            "22    clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = 44",
            "44    clone(child_stack=NULL, flags=SIGCHLD, child_tidptr=0x1) = 45",
            '47    execve("/usr/bin/gzip", ["gzip", "-cdfq", "--", "f.gz"], 0x2 /* 8 vars */) = 0',
            "45    vfork()              = 47",
        ]
    )
    gzip = read_trace(text).execs[-1]
    assert (gzip.name, gzip.caller) == ("gzip", "/usr/bin/zgrep")


def test_deleted_files_keep_their_path() -> None:
    line = "32    ftruncate(4</tmp/tacGIZZA3>(deleted), 0) = 0"
    (write,) = read_trace(line).writes
    assert write.path == "/tmp/tacGIZZA3"
