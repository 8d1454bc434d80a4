"""Read, Write, Edit, Grep and Glob against a real session container (one per module)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import docker
import pytest

from orchestrator.tools.base import ReadLedger, Tool, ToolContext, ToolError, ToolOutput
from orchestrator.tools.edit import Edit
from orchestrator.tools.glob import Glob
from orchestrator.tools.grep import Grep
from orchestrator.tools.read import Read
from orchestrator.tools.write import Write
from sandbox.docker_backend import DockerBackend, DockerSession
from sandbox.spec import SessionSpec
from tests.integration.waiting import LIVENESS_S

pytestmark = pytest.mark.integration

T = TypeVar("T")


class Box:
    """One session, driven from the tests through an event loop in another thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, session: DockerSession) -> None:
        self.loop = loop
        self.session = session

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=LIVENESS_S)

    def sh(self, script: str, *args: str) -> str:
        """Run a shell script (arguments as $1...), insisting that it succeeds."""
        result = self.run(self.session.exec(["sh", "-c", script, "sh", *args]))
        assert result.exit_code == 0, result.stderr
        return result.text

    def put(self, path: str, data: bytes | str) -> None:
        """Create a file behind the tools' back (parents included)."""
        raw = data.encode() if isinstance(data, str) else data
        script = 'mkdir -p -- "$(dirname -- "$1")" && cat > "$1"'
        result = self.run(self.session.exec(["sh", "-c", script, "sh", path], stdin=raw))
        assert result.exit_code == 0, result.stderr

    def call(self, tool: Tool[Any], ctx: ToolContext, **raw: Any) -> ToolOutput:
        return self.run(tool.run(tool.parse(raw), ctx))

    def fails(self, tool: Tool[Any], ctx: ToolContext, **raw: Any) -> str:
        with pytest.raises(ToolError) as caught:
            self.call(tool, ctx, **raw)
        return str(caught.value)


@pytest.fixture(scope="module")
def box(docker_client: docker.DockerClient) -> Iterator[Box]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    manager = DockerBackend().session(SessionSpec())
    session = asyncio.run_coroutine_threadsafe(manager.__aenter__(), loop).result(LIVENESS_S)
    try:
        yield Box(loop, session)
    finally:
        closing = manager.__aexit__(None, None, None)
        asyncio.run_coroutine_threadsafe(closing, loop).result(timeout=LIVENESS_S)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=LIVENESS_S)
        loop.close()


@pytest.fixture
def ctx(box: Box) -> ToolContext:
    """A fresh context (an empty read ledger) on the shared session."""
    return ToolContext(session=box.session, reads=ReadLedger())


@pytest.fixture
def home(box: Box, request: pytest.FixtureRequest) -> str:
    """A fresh directory of this test's own under /workspace."""
    path = f"/workspace/{request.node.name}"
    box.sh('rm -rf -- "$1" && mkdir -p -- "$1"', path)
    return path


# --- Read -----------------------------------------------------------------------------


def test_read_numbers_lines_like_cat_n(box: Box, ctx: ToolContext, home: str) -> None:
    box.put(f"{home}/a.txt", "alpha\nbeta\n\tgamma\n")
    out = box.call(Read(), ctx, file_path=f"{home}/a.txt")
    assert out.content == "     1\talpha\n     2\tbeta\n     3\t\tgamma"
    assert not out.is_error and not out.truncated
    assert ctx.reads.unchanged(f"{home}/a.txt", b"alpha\nbeta\n\tgamma\n") is True


def test_read_offset_and_limit(box: Box, ctx: ToolContext, home: str) -> None:
    box.put(f"{home}/n.txt", "".join(f"line {i}\n" for i in range(1, 11)))
    out = box.call(Read(), ctx, file_path=f"{home}/n.txt", offset=4, limit=2)
    assert out.content.splitlines() == ["     4\tline 4", "     5\tline 5", "[lines 4-5 of 10]"]
    # a partial read still records the whole file, so Edit may follow it
    whole = box.run(box.session.get_file(f"{home}/n.txt"))
    assert ctx.reads.unchanged(f"{home}/n.txt", whole) is True
    assert "past the end" in box.fails(Read(), ctx, file_path=f"{home}/n.txt", offset=11)


def test_read_cuts_long_lines_and_reports_empty_files(
    box: Box, ctx: ToolContext, home: str
) -> None:
    box.put(f"{home}/long.txt", "x" * 2500 + "\nshort\n")
    first, second = box.call(Read(), ctx, file_path=f"{home}/long.txt").content.split("\n")
    assert first == "     1\t" + "x" * 2000 + "... [line cut: 500 more characters]"
    assert second == "     2\tshort"
    box.put(f"{home}/empty.txt", b"")
    out = box.call(Read(), ctx, file_path=f"{home}/empty.txt")
    assert "empty" in out.content and not out.is_error


def test_read_refuses_binary_missing_directory_and_relative(
    box: Box, ctx: ToolContext, home: str
) -> None:
    box.put(f"{home}/blob.bin", b"text\x00\x01\x02more")
    assert "binary" in box.fails(Read(), ctx, file_path=f"{home}/blob.bin")
    assert "does not exist" in box.fails(Read(), ctx, file_path=f"{home}/nope.txt")
    assert "is a directory" in box.fails(Read(), ctx, file_path=home)
    message = box.fails(Read(), ctx, file_path="src/app.py")
    assert "absolute path" in message and "'src/app.py'" in message
    assert ctx.reads.digests == {}


def test_read_of_a_large_file_shows_a_slice(box: Box, ctx: ToolContext, home: str) -> None:
    path = f"{home}/big.log"
    box.sh('seq 1 1000000 > "$1"', path)  # ~6.9 MB, above the whole-file limit
    out = box.call(Read(), ctx, file_path=path, offset=500000, limit=3)
    assert out.content.splitlines()[:3] == [
        "500000\t500000",
        "500001\t500001",
        "500002\t500002",
    ]
    assert "offset and limit" in out.content and out.truncated
    assert path not in ctx.reads.digests  # not read whole: Edit must refuse it


# --- Write ----------------------------------------------------------------------------


def test_write_creates_parent_directories(box: Box, ctx: ToolContext, home: str) -> None:
    path = f"{home}/deep/er/new.py"
    out = box.call(Write(), ctx, file_path=path, content="print('hi')\n")
    assert out.content == f"Wrote 12 bytes to {path} (new file)."
    assert box.sh('cat -- "$1"', path) == "print('hi')\n"
    # what it wrote counts as read: an Edit may follow at once
    box.call(Edit(), ctx, file_path=path, old_string="hi", new_string="ho")
    assert box.sh('cat -- "$1"', path) == "print('ho')\n"


def test_write_over_an_unread_file_is_refused_until_read(
    box: Box, ctx: ToolContext, home: str
) -> None:
    path = f"{home}/exists.txt"
    box.put(path, "original\n")
    assert "Read it first" in box.fails(Write(), ctx, file_path=path, content="new\n")
    assert box.sh('cat -- "$1"', path) == "original\n"
    box.call(Read(), ctx, file_path=path)
    out = box.call(Write(), ctx, file_path=path, content="new\n")
    assert "replaced its previous content" in out.content
    assert box.sh('cat -- "$1"', path) == "new\n"
    box.sh('echo behind your back > "$1"', path)
    assert "changed since" in box.fails(Write(), ctx, file_path=path, content="x")


# --- Edit -----------------------------------------------------------------------------


def test_edit_requires_a_read(box: Box, ctx: ToolContext, home: str) -> None:
    path = f"{home}/e.py"
    box.put(path, "a = 1\n")
    message = box.fails(Edit(), ctx, file_path=path, old_string="1", new_string="2")
    assert "Read it first" in message
    assert box.sh('cat -- "$1"', path) == "a = 1\n"


def test_edit_after_read_replaces_and_shows_context(box: Box, ctx: ToolContext, home: str) -> None:
    path = f"{home}/e.py"
    box.put(path, "".join(f"line{i}\n" for i in range(1, 11)) + "target = 1\nend\n")
    box.call(Read(), ctx, file_path=path)
    out = box.call(Edit(), ctx, file_path=path, old_string="target = 1", new_string="t = 2\nu = 3")
    assert out.content.splitlines() == [
        f"Edited {path}: replaced 1 occurrence.",
        "     8\tline8",
        "     9\tline9",
        "    10\tline10",
        "    11\tt = 2",
        "    12\tu = 3",
        "    13\tend",
    ]
    assert box.sh('tail -n 3 -- "$1"', path) == "t = 2\nu = 3\nend\n"
    # the ledger follows the edit: a second Edit needs no new Read
    box.call(Edit(), ctx, file_path=path, old_string="u = 3", new_string="u = 4")
    assert "u = 4\n" in box.sh('cat -- "$1"', path)


def test_edit_refuses_a_file_changed_behind_its_back(box: Box, ctx: ToolContext, home: str) -> None:
    path = f"{home}/e.py"
    box.put(path, "value = 1\n")
    box.call(Read(), ctx, file_path=path)
    box.sh('echo "value = 99" > "$1"', path)
    message = box.fails(Edit(), ctx, file_path=path, old_string="value", new_string="v")
    assert "changed since you read it" in message and "Read it again" in message
    assert box.sh('cat -- "$1"', path) == "value = 99\n"


def test_edit_needs_exactly_one_match_unless_replace_all(
    box: Box, ctx: ToolContext, home: str
) -> None:
    path = f"{home}/e.py"
    box.put(path, "x = old\ny = old\n")
    box.call(Read(), ctx, file_path=path)
    missing = box.fails(Edit(), ctx, file_path=path, old_string="absent", new_string="z")
    assert "not found" in missing
    twice = box.fails(Edit(), ctx, file_path=path, old_string="old", new_string="new")
    assert "occurs 2 times" in twice and "replace_all" in twice
    same = box.fails(Edit(), ctx, file_path=path, old_string="old", new_string="old")
    assert "the same" in same
    assert box.sh('cat -- "$1"', path) == "x = old\ny = old\n"
    out = box.call(
        Edit(), ctx, file_path=path, old_string="old", new_string="new", replace_all=True
    )
    assert "replaced 2 occurrences" in out.content
    assert box.sh('cat -- "$1"', path) == "x = new\ny = new\n"


def test_edit_keeps_the_file_mode(box: Box, ctx: ToolContext, home: str) -> None:
    path = f"{home}/run.sh"
    box.put(path, "#!/bin/sh\necho before\n")
    box.sh('chmod 755 -- "$1"', path)
    box.call(Read(), ctx, file_path=path)
    box.call(Edit(), ctx, file_path=path, old_string="before", new_string="after")
    assert box.sh('stat -c %a -- "$1"', path) == "755\n"
    assert box.sh('cat -- "$1"', path) == "#!/bin/sh\necho after\n"


def test_edit_keeps_crlf_and_bytes_that_are_not_utf8(box: Box, ctx: ToolContext, home: str) -> None:
    path = f"{home}/dos.txt"
    box.put(path, b"caf\xe9\r\none\r\ntwo\r\n")
    box.call(Read(), ctx, file_path=path)
    box.call(Edit(), ctx, file_path=path, old_string="one\ntwo", new_string="1\n2")
    assert box.run(box.session.get_file(path)) == b"caf\xe9\r\n1\r\n2\r\n"


# --- Grep -----------------------------------------------------------------------------


@pytest.fixture
def tree(box: Box, home: str) -> str:
    box.put(f"{home}/src/app.py", "import os\nTODO fix\nprint(os.name)\n")
    box.put(f"{home}/src/util.py", "todo: later\n")
    box.put(f"{home}/docs/notes.md", "TODO write docs\n")
    box.put(f"{home}/.git/config", "TODO hidden in git\n")
    return home


def test_grep_output_modes(box: Box, ctx: ToolContext, tree: str) -> None:
    files = box.call(Grep(), ctx, pattern="TODO", path=tree).content
    assert files.splitlines() == ["Found 2 files", f"{tree}/docs/notes.md", f"{tree}/src/app.py"]
    content = box.call(Grep(), ctx, pattern="TODO", path=tree, output_mode="content").content
    assert content.splitlines() == [
        f"{tree}/docs/notes.md:1:TODO write docs",
        f"{tree}/src/app.py:2:TODO fix",
    ]
    count = box.call(Grep(), ctx, pattern="o", path=f"{tree}/src", output_mode="count").content
    assert count.splitlines() == [f"{tree}/src/app.py:2", f"{tree}/src/util.py:1"]


def test_grep_case_glob_and_no_match(box: Box, ctx: ToolContext, tree: str) -> None:
    found = box.call(Grep(), ctx, **{"pattern": "todo", "path": tree, "-i": True}).content
    assert found.splitlines()[0] == "Found 3 files"
    only_py = box.call(Grep(), ctx, pattern="TODO", path=tree, glob="*.md").content
    assert only_py.splitlines() == ["Found 1 file", f"{tree}/docs/notes.md"]
    # a glob with a "/" is relative to the searched path, not to rg's working directory
    anchored = box.call(Grep(), ctx, pattern="o", path=tree, glob="src/*.py").content
    assert anchored.splitlines()[0] == "Found 2 files"
    none = box.call(Grep(), ctx, pattern="no such text", path=tree)
    assert none.content == "No matches found" and not none.is_error


def test_grep_takes_claude_codes_other_fields(box: Box, ctx: ToolContext, tree: str) -> None:
    app = f"{tree}/src/app.py"
    around = box.call(
        Grep(), ctx, **{"pattern": "TODO", "path": app, "output_mode": "content", "-C": 1}
    ).content
    assert around.splitlines() == [
        f"{app}-1-import os", f"{app}:2:TODO fix", f"{app}-3-print(os.name)"
    ]  # fmt: skip
    after = box.call(
        Grep(), ctx, **{"pattern": "TODO", "path": app, "output_mode": "content", "-A": 1,
                        "-n": False}
    ).content  # fmt: skip
    assert after.splitlines() == [f"{app}:TODO fix", f"{app}-print(os.name)"]
    typed = box.call(Grep(), ctx, pattern="TODO", path=tree, type="md").content
    assert typed.splitlines() == ["Found 1 file", f"{tree}/docs/notes.md"]
    first = box.call(Grep(), ctx, pattern="o", path=tree, output_mode="content", head_limit=2)
    assert len(first.content.splitlines()) == 2
    spanning = box.call(
        Grep(), ctx, pattern="TODO fix.print", path=tree, output_mode="count", multiline=True
    ).content
    assert spanning.splitlines() == [f"{app}:1"]
    assert "type" in box.fails(Grep(), ctx, pattern="x", path=tree, type="py; rm -rf /")


def test_grep_errors_come_back_as_tool_errors(box: Box, ctx: ToolContext, tree: str) -> None:
    assert "regex parse error" in box.fails(Grep(), ctx, pattern="fn(", path=tree)
    assert "No such file" in box.fails(Grep(), ctx, pattern="x", path=f"{tree}/missing")
    assert "absolute path" in box.fails(Grep(), ctx, pattern="x", path="src")


# --- Secrets met by a search (issue 12, classes 8 and 9) ------------------------------


@pytest.fixture
def secrets(box: Box, home: str) -> str:
    """A tree where the word SECRET is in ordinary files and in files that hold secrets."""
    box.put(f"{home}/notes.md", "SECRET plan\nline two\n")
    box.put(f"{home}/.env", "API_TOKEN=SECRET-abc123\n")
    box.put(f"{home}/conf/.env.prod", "DB_PASSWORD=SECRET-prod\n")
    box.put(f"{home}/keys/server.pem", "-----BEGIN SECRET KEY-----\n")
    box.put(f"{home}/odd:name.txt", "SECRET in a name with colons\n")
    box.put(f"{home}/new\nline/z.txt", "SECRET under a name with a newline\n")
    box.put(f"{home}/only-env/.env", "ONLY_HERE=xyz\n")
    return home


def test_a_search_leaves_out_files_the_policy_would_not_let_it_read(
    box: Box, ctx: ToolContext, secrets: str
) -> None:
    home = secrets
    shown = [f"{home}/new\nline/z.txt", f"{home}/notes.md", f"{home}/odd:name.txt"]
    files = box.call(Grep(), ctx, pattern="SECRET", path=home).content
    assert files == "\n".join(["Found 3 files", *sorted(shown)])
    content = box.call(Grep(), ctx, pattern="SECRET", path=home, output_mode="content")
    assert "abc123" not in content.content and "prod" not in content.content
    assert "BEGIN" not in content.content
    assert f"{home}/odd:name.txt:1:SECRET in a name with colons" in content.content
    assert f"{home}/new\nline/z.txt:1:SECRET under a name with a newline" in content.content
    count = box.call(Grep(), ctx, pattern="SECRET", path=home, output_mode="count").content
    assert count == "\n".join(f"{p}:1" for p in sorted(shown))
    # context groups: the separators of a left-out file do not pile up
    around = box.call(
        Grep(), ctx, **{"pattern": "SECRET", "path": home, "output_mode": "content", "-C": 1}
    ).content
    assert "abc123" not in around and "--\n--" not in around
    assert not around.startswith("--") and not around.endswith("--")
    # a match only a secret holds looks like no match at all: no oracle on its content
    assert box.call(Grep(), ctx, pattern="ONLY_HERE", path=home).content == "No matches found"
    assert box.call(Grep(), ctx, pattern="xyz", path=home, output_mode="count").content == (
        "No matches found"
    )
    # head_limit counts what is shown (sorted by path, .env would come first)
    first = box.call(Grep(), ctx, pattern="SECRET", path=home, output_mode="content", head_limit=1)
    assert first.content == f"{home}/new\nline/z.txt:1:SECRET under a name with a newline"


def test_a_secret_named_as_the_path_was_judged_by_the_gate_and_is_searched(
    box: Box, ctx: ToolContext, secrets: str
) -> None:
    out = box.call(Grep(), ctx, pattern="SECRET", path=f"{secrets}/.env", output_mode="content")
    assert out.content == f"{secrets}/.env:1:API_TOKEN=SECRET-abc123"


def test_a_search_shows_what_the_sessions_policy_lets_it_read(box: Box, secrets: str) -> None:
    """The context's judge is the gate's: a policy that allows reading secrets sees them."""
    from orchestrator.tools.permission import read_judge
    from security import PRESETS

    relaxed = PRESETS["dev"].model_copy(
        update={"overrides": {**PRESETS["dev"].overrides, "S27": "allow"}}
    )
    ctx = ToolContext(session=box.session, reads=ReadLedger(), may_read=read_judge(relaxed))
    out = box.call(Grep(), ctx, pattern="SECRET", path=secrets, output_mode="content").content
    assert "abc123" in out and "SECRET-prod" in out


def test_glob_lists_secret_names_a_listing_is_not_a_read(
    box: Box, ctx: ToolContext, secrets: str
) -> None:
    out = box.call(Glob(), ctx, pattern="**/.env*", path=secrets).content
    assert out.split("\n") == [f"{secrets}/.env", f"{secrets}/conf/.env.prod",
                                f"{secrets}/only-env/.env"]  # fmt: skip


# --- Links: a tool is judged by where a link leads, not by its name ------------------


@pytest.fixture
def dev_ctx(box: Box) -> ToolContext:
    """A context with the dev gate's answers, as the loop gives a tool."""
    from orchestrator.gate.permission_gate import PermissionGate, Trust
    from security import PRESETS

    gate = PermissionGate(PRESETS["dev"], Trust(trusted=True, by="flag"))
    return ToolContext(box.session, reads=ReadLedger(), may_read=gate.may_read,
                       permits=gate.permits)  # fmt: skip


def test_write_and_edit_through_a_link_are_judged_as_the_file_behind_it(
    box: Box, dev_ctx: ToolContext, home: str
) -> None:
    box.sh('mkdir -p "$1/.git" && printf "[core]\\n" > "$1/.git/config"', home)
    box.sh('ln -s .git/config "$1/notes.txt" && ln -s .git/hooks/post-checkout "$1/todo.md"', home)
    said = box.fails(Write(), dev_ctx, file_path=f"{home}/notes.txt", content="[core]\nx=1\n")
    assert f"symbolic link to {home}/.git/config" in said and "needs approval" in said
    said = box.fails(Write(), dev_ctx, file_path=f"{home}/todo.md", content="#!/bin/sh\n")
    assert f"{home}/.git/hooks/post-checkout" in said  # a dangling link too
    box.call(Read(), dev_ctx, file_path=f"{home}/notes.txt")
    edit = {"file_path": f"{home}/notes.txt", "old_string": "[core]", "new_string": "[x]"}
    assert "symbolic link" in box.fails(Edit(), dev_ctx, **edit)
    assert box.sh('cat -- "$1/.git/config"; ls -A "$1/.git"', home) == "[core]\nconfig\n"
    # an ordinary link inside the workspace is followed: the file behind it changes
    box.put(f"{home}/src/real.py", "a = 1\n")
    box.sh('ln -s src/real.py "$1/short.py"', home)
    box.call(Read(), dev_ctx, file_path=f"{home}/short.py")
    box.call(Edit(), dev_ctx, file_path=f"{home}/short.py", old_string="1", new_string="2")
    assert box.sh('cat -- "$1/src/real.py"; readlink -- "$1/short.py"', home) == (
        "a = 2\nsrc/real.py\n"
    )


def test_read_and_grep_through_a_link_are_judged_as_the_file_behind_it(
    box: Box, ctx: ToolContext, home: str
) -> None:
    box.put(f"{home}/.env", "TOKEN=SECRET-1\n")
    box.put(f"{home}/keep/.aws/credentials", "key = SECRET-2\n")
    box.sh('ln -s .env "$1/readme.txt" && ln -s keep/.aws "$1/docs"', home)
    said = box.fails(Read(), ctx, file_path=f"{home}/readme.txt")
    assert f"symbolic link to {home}/.env" in said and "SECRET" not in said
    named = box.call(Grep(), ctx, pattern="SECRET", path=f"{home}/readme.txt")
    assert named.content == "No matches found"
    through = box.call(Grep(), ctx, pattern="SECRET", path=f"{home}/docs", output_mode="content")
    assert through.content == "No matches found"
    # the same search of the real directory names the secret, and the gate would ask
    assert "SECRET" not in box.call(Grep(), ctx, pattern="SECRET", path=home).content


def test_grep_through_a_link_to_a_binary_secret_is_no_oracle_on_it(
    box: Box, ctx: ToolContext, home: str
) -> None:
    """rg names no file in its "binary file matches" note: through a link to
    /proc/1/environ (NUL-separated, so binary) the note answered whether a pattern
    matched the environment, one question per call. The answer is the same either way
    (now a refusal: /proc/1/environ is root's, unreadable to the session's user)."""
    box.sh('ln -s /proc/1/environ "$1/notes.txt"', home)
    said = [box.fails(Grep(), ctx, pattern=pattern, path=f"{home}/notes.txt",
                      output_mode="content")
            for pattern in ("AIRLOCK_TTL=", "NOT-IN-THE-ENVIRONMENT")]  # fmt: skip
    assert said[0] == said[1] and "Permission denied" in said[0], said


def test_a_glob_through_a_link_is_judged_as_the_listing_behind_it(
    box: Box, ctx: ToolContext, home: str
) -> None:
    """Listing a directory of secrets (``rg --files -- .../.aws``) asks; through a link
    with an innocent name the gate judged the name and rg listed what is behind it."""
    box.put(f"{home}/keep/.aws/credentials", "key = SECRET\n")
    box.put(f"{home}/src/app.py", "")
    box.sh('ln -s keep/.aws "$1/docs" && ln -s src "$1/code"', home)
    said = box.fails(Glob(), ctx, pattern="*", path=f"{home}/docs")
    assert f"symbolic link to {home}/keep/.aws" in said and "needs approval" in said
    assert "credentials" not in said
    # a link to an ordinary directory is listed as before
    assert box.call(Glob(), ctx, pattern="*", path=f"{home}/code").content == f"{home}/code/app.py"


# --- Glob -----------------------------------------------------------------------------


def test_glob_lists_sorted_matches(box: Box, ctx: ToolContext, tree: str) -> None:
    box.put(f"{tree}/top.py", "")
    out = box.call(Glob(), ctx, pattern="**/*.py", path=tree).content
    assert out.splitlines() == [f"{tree}/src/app.py", f"{tree}/src/util.py", f"{tree}/top.py"]
    only_src = box.call(Glob(), ctx, pattern="src/*.py", path=tree).content
    assert only_src.splitlines() == [f"{tree}/src/app.py", f"{tree}/src/util.py"]
    assert box.call(Glob(), ctx, pattern="**/*.rs", path=tree).content == "No files found"


# --- Input that looks like options or shell is data -----------------------------------


def test_hostile_looking_input_is_data(box: Box, ctx: ToolContext, home: str) -> None:
    odd_dir = f"{home}/a dir; touch pwned"
    path = f"{odd_dir}/$(touch pwned2) -rf.txt"
    box.call(Write(), ctx, file_path=path, content="--version\n-e x\n")
    assert box.sh('cat -- "$1"', path) == "--version\n-e x\n"
    content = box.call(Grep(), ctx, pattern="--version", path=odd_dir, output_mode="content")
    assert content.content == f"{path}:1:--version"
    dashed = box.call(Grep(), ctx, pattern="-e x", path=path, output_mode="count")
    assert dashed.content == f"{path}:1"
    # "-*" is a glob, not an option (and the name starts with "$", so it does not match)
    assert box.call(Glob(), ctx, pattern="-*", path=odd_dir).content == "No files found"
    assert box.call(Glob(), ctx, pattern="*-rf.txt", path=odd_dir).content == path
    box.call(Read(), ctx, file_path=path)
    box.call(Edit(), ctx, file_path=path, old_string="-e x", new_string="; rm -rf /")
    assert box.sh('cat -- "$1"', path) == "--version\n; rm -rf /\n"
    # nothing was run: no "pwned" files in the workspace or in the directories searched
    made = box.sh('find /workspace -name "pwned*"')
    assert made == ""
    assert box.sh('ls -A -- "$1"', odd_dir) == "$(touch pwned2) -rf.txt\n"


# --- Parsing and schema ---------------------------------------------------------------


def test_parse_gives_readable_errors() -> None:
    with pytest.raises(ToolError, match=r"invalid input for Read: file_path: Field required"):
        Read().parse({})
    with pytest.raises(ToolError, match=r"Edit: .*colour.*Extra inputs are not permitted"):
        Edit().parse({"file_path": "/a", "old_string": "a", "new_string": "b", "colour": 1})
    with pytest.raises(ToolError, match=r"Read: offset: Input should be a valid integer"):
        Read().parse({"file_path": "/a", "offset": "first"})
    with pytest.raises(ToolError, match=r"Grep: output_mode: Input should be 'content'"):
        Grep().parse({"pattern": "x", "output_mode": "lines"})


def test_schemas_use_claude_code_field_names() -> None:
    grep = Grep().schema()["input_schema"]
    assert set(grep["properties"]) == {
        "pattern", "path", "glob", "output_mode", "-i", "-n", "-A", "-B", "-C", "type",
        "head_limit", "multiline",
    }  # fmt: skip
    assert grep["required"] == ["pattern"]
    assert Grep().parse({"pattern": "x", "-i": True}).case_insensitive is True
    tools: list[Callable[[], Tool[Any]]] = [Read, Write, Edit, Grep, Glob]
    names = {tool().name: set(tool().schema()["input_schema"]["properties"]) for tool in tools}
    assert names == {
        "Read": {"file_path", "offset", "limit"},
        "Write": {"file_path", "content"},
        "Edit": {"file_path", "old_string", "new_string", "replace_all"},
        "Grep": set(grep["properties"]),
        "Glob": {"pattern", "path"},
    }


def test_resolve_follows_links_in_the_busybox_image_too() -> None:
    """airlock/minimal's readlink has no -m: the fallback resolves the deepest part that
    exists, and a link into a missing directory is an error (status 3), not its name."""
    from orchestrator.tools.resolve import RESOLVE

    script = (
        RESOLVE + "cd /tmp && mkdir d && ln -s d/x l2 && ln -s nodir/x l3 && ln -s /tmp/d dl; "
        'for p in /tmp/a/b /tmp/l2 /tmp/l3 /tmp/dl/new/f /; do resolve "$p"; echo " $?"; done'
    )

    async def resolve_in_minimal() -> str:
        spec = SessionSpec(image="airlock/minimal", shell="sh")
        async with DockerBackend().session(spec) as session:
            result = await session.exec(["sh", "-c", script])
        return result.text

    answer = asyncio.run(resolve_in_minimal())
    assert answer.split("\n")[:-1] == [
        "/tmp/a/b\0 0", "/tmp/d/x\0 0", " 3", "/tmp/d/new/f\0 0", "/\0 0"
    ]  # fmt: skip
