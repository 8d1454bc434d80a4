"""The Landlock ruleset of a read-only command and how programs become files to exec."""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from sandbox import landlock
from sandbox.confinement import (
    HELPER_PROGRAMS,
    Confinement,
    failure_note,
    read_only_confinement,
    with_helpers,
)
from sandbox.landlock import (
    FILE_RIGHTS,
    FS_EXECUTE,
    FS_IOCTL_DEV,
    FS_MAKE_BLOCK,
    FS_MAKE_CHAR,
    FS_MAKE_REG,
    FS_MAKE_SOCK,
    FS_READ_DIR,
    FS_READ_FILE,
    FS_REFER,
    FS_TRUNCATE,
    FS_WRITE_FILE,
    read_only_ruleset,
    write_rights,
)
from sandbox.results import ConfinementReport

# --- the ruleset, per ABI ---------------------------------------------------------------


@pytest.mark.parametrize("abi", range(1, 10))
def test_every_write_right_of_the_abi_and_execute_are_handled_reads_are_not(abi: int) -> None:
    ruleset = read_only_ruleset(abi, "/tmp/scratch", ["/usr/bin/cat"])
    assert ruleset.abi == min(abi, landlock.NEWEST_KNOWN_ABI)
    assert ruleset.handled_fs & FS_EXECUTE and ruleset.handled_fs & FS_WRITE_FILE
    assert not ruleset.handled_fs & (FS_READ_FILE | FS_READ_DIR)
    assert bool(ruleset.handled_fs & FS_REFER) == (abi >= 2)
    assert bool(ruleset.handled_fs & FS_TRUNCATE) == (abi >= 3)
    assert bool(ruleset.handled_fs & FS_IOCTL_DEV) == (abi >= 5)
    assert bool(ruleset.handled_net) == (abi >= 4)  # TCP bind/connect, with no rule
    assert ruleset.scoped == (0b11 if abi >= 6 else 0)  # abstract sockets and signals
    # a right the running kernel does not know would make the ruleset invalid
    known = 0
    for since, bits in landlock.WRITE_RIGHTS_BY_ABI:
        known |= bits if abi >= since else 0
    assert ruleset.handled_fs == known | FS_EXECUTE


def test_rules_grant_writes_beneath_scratch_devnull_and_execute_on_programs_only() -> None:
    ruleset = read_only_ruleset(7, "/tmp/airlock-ro-x", ["/usr/bin/git", "/usr/bin/git"])
    rules = {rule.path: rule.rights for rule in ruleset.rules}
    assert rules == {
        "/dev/null": write_rights(7) & FILE_RIGHTS,
        "/tmp/airlock-ro-x": write_rights(7) & ~(FS_MAKE_SOCK | FS_MAKE_CHAR | FS_MAKE_BLOCK),
        "/usr/bin/git": FS_EXECUTE,
    }
    assert not rules["/tmp/airlock-ro-x"] & FS_EXECUTE  # nothing written there runs
    assert rules["/tmp/airlock-ro-x"] & FS_MAKE_REG and rules["/tmp/airlock-ro-x"] & FS_REFER
    assert not rules["/dev/null"] & FS_MAKE_REG


def test_ruleset_attr_size_follows_the_abi() -> None:
    assert [landlock._attr_size(abi) for abi in (1, 3, 4, 5, 6, 7)] == [8, 8, 16, 16, 24, 24]


def test_write_rights_only_grow_with_the_abi() -> None:
    previous = 0
    for abi in range(1, 9):
        assert write_rights(abi) & previous == previous
        previous = write_rights(abi)
    assert not write_rights(9) & FS_EXECUTE


# --- programs to files ------------------------------------------------------------------


def _elf64(interp: bytes | None, order: str = "<") -> bytes:
    """A minimal 64-bit ELF header with one program header (PT_INTERP or PT_LOAD)."""
    head = bytearray(0x40 + 56 + 64)
    head[:6] = b"\x7fELF" + bytes([2, 1 if order == "<" else 2])
    struct.pack_into(order + "Q", head, 0x20, 0x40)  # e_phoff
    struct.pack_into(order + "HH", head, 0x36, 56, 1)  # e_phentsize, e_phnum
    kind = landlock.PT_INTERP if interp is not None else 1
    struct.pack_into(order + "I", head, 0x40, kind)
    if interp is not None:
        struct.pack_into(order + "Q", head, 0x40 + 8, 0x40 + 56)
        struct.pack_into(order + "Q", head, 0x40 + 32, len(interp) + 1)
        head[0x40 + 56 : 0x40 + 56 + len(interp)] = interp
    return bytes(head)


def _elf32(interp: bytes) -> bytes:
    head = bytearray(0x34 + 32 + 64)
    head[:6] = b"\x7fELF\x01\x01"
    struct.pack_into("<I", head, 0x1C, 0x34)
    struct.pack_into("<HH", head, 0x2A, 32, 1)
    struct.pack_into("<IIII", head, 0x34, landlock.PT_INTERP, 0x34 + 32, 0, 0)
    struct.pack_into("<I", head, 0x34 + 16, len(interp) + 1)
    head[0x34 + 32 : 0x34 + 32 + len(interp)] = interp
    return bytes(head)


def test_elf_interpreter_of_64_32_bit_big_endian_and_static_files() -> None:
    loader = b"/lib64/ld-linux-x86-64.so.2"
    assert landlock.elf_interpreter(_elf64(loader)) == loader.decode()
    assert landlock.elf_interpreter(_elf64(loader, ">")) == loader.decode()
    assert landlock.elf_interpreter(_elf32(b"/lib/ld-linux.so.2")) == "/lib/ld-linux.so.2"
    assert landlock.elf_interpreter(_elf64(None)) is None  # static
    assert landlock.elf_interpreter(_elf64(loader)[:80]) is None  # cut short
    assert landlock.elf_interpreter(b"#!/bin/sh\n") is None


def test_real_dynamic_program_has_the_loader_as_interpreter() -> None:
    sh = landlock.find_program("sh", os.environ["PATH"], "/")
    assert sh is not None
    loader = landlock.elf_interpreter(Path(sh).read_bytes()[: landlock.HEAD_BYTES])
    assert loader is not None and "ld" in loader


def test_script_interpreter_line() -> None:
    assert landlock.script_interpreter(b"#!/bin/sh\necho") == ("/bin/sh", None)
    assert landlock.script_interpreter(b"#! /usr/bin/env  python3 -u\n") == (
        "/usr/bin/env",
        "python3 -u",
    )
    assert landlock.script_interpreter(b"#!\n") is None
    assert landlock.script_interpreter(b"echo") is None


def test_find_program_follows_path_order_and_skips_non_executables(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "tool").write_text("not executable")
    (second / "tool").write_text("#!/bin/sh\n")
    (second / "tool").chmod(0o755)
    (tmp_path / "link").symlink_to(second / "tool")
    found = landlock.find_program("tool", f"{first}:{second}", "/")
    assert found == str(second / "tool")
    assert landlock.find_program("./link", "", str(tmp_path)) == str(second / "tool")
    assert landlock.find_program("absent", f"{first}:{second}", "/") is None
    assert landlock.find_program("", f"{first}", "/") is None


def test_programs_resolve_with_their_interpreters_and_writable_files_are_refused(
    tmp_path: Path,
) -> None:
    script = tmp_path / "mine"
    script.write_text("#!/bin/sh\necho\n")
    script.chmod(0o755)
    search = os.environ["PATH"]
    granted, missing, writable = landlock.executables(
        ["sh", "no-such-tool-airlock", str(script)],
        search,
        "/",
        can_write=lambda path: path.startswith(str(tmp_path)),  # as uid 1000 in a session
    )
    assert missing == ["no-such-tool-airlock"]
    # a file the session could change (the workspace, /tmp) never gets EXECUTE
    assert writable == [str(script)]
    assert granted["sh"] == landlock.find_program("sh", search, "/")
    assert any(key.startswith("sh -> ") for key in granted), granted  # its dynamic loader


def test_script_interpreters_are_followed(tmp_path: Path) -> None:
    # zgrep and friends are #!/bin/sh scripts: sh (and its loader) must be executable too
    zgrep = shutil.which("zgrep") or shutil.which("which")
    assert zgrep is not None
    found = landlock.interpreters(os.path.realpath(zgrep), os.environ["PATH"], "/")
    sh = landlock.find_program("/bin/sh", "", "/")
    assert sh in found and len(found) >= 2, found


# --- the host side ----------------------------------------------------------------------


def test_helpers_are_added_transitively_once() -> None:
    assert with_helpers(["diff3", "cat", "diff"]) == ["diff3", "cat", "diff", "pr"]
    assert with_helpers(["/usr/bin/zgrep"])[1:] == list(HELPER_PROGRAMS["zgrep"])


def test_confinement_lists_every_program_of_the_verdict_with_helpers() -> None:
    confinement = read_only_confinement("git log -p | zgrep foo - && diff -l a b")
    assert confinement is not None
    assert {"git", "zgrep", "diff", "gzip", "sed", "pr", "/usr/lib/git-core/git"} <= set(
        confinement.programs
    )
    assert confinement.wire() == {"programs": list(confinement.programs), "required": False}
    assert read_only_confinement("rm -rf /workspace") is None  # not proven: not confined
    assert Confinement.for_commands([[], [""], ["ls"]]).programs == ("ls",)


def test_failure_note_names_missing_programs_but_not_builtins() -> None:
    report = ConfinementReport(confined=True, missing=("cd", "pr"), writable=("./evil",))
    note = failure_note(report)
    assert "Not found on PATH: pr." in note and "cd" not in note.split("PATH:")[1]
    assert "./evil" in note
