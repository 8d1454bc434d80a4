"""Issue 12, class 8: a file tool's gate decision is the decision for the same Bash line.

Each tool states what it asks permission for as a shell line, and the gate judges that
line with the analyzer. These tables hold the tools to that: for each tool, path and
policy, the gate's decision equals the analyzer's on Bash lines written by hand that do
the same thing (spelled differently from the tool's own line, so the test is not the
code read back). Write and Edit add their own rules, which only make a call stricter:
the policy's ``edits`` setting, and an edit outside the workspace asks.
"""

from __future__ import annotations

import asyncio
import shlex
from typing import Any

import pytest

from orchestrator.gate.classifier import ClassifierAnswer, SafetyClassifier
from orchestrator.gate.headless import headless_answer
from orchestrator.gate.permission_gate import GateResult, PermissionGate, Trust
from orchestrator.tools.base import Tool, ToolError
from orchestrator.tools.bash import Bash
from orchestrator.tools.edit import Edit
from orchestrator.tools.glob import Glob
from orchestrator.tools.grep import Grep
from orchestrator.tools.permission import read_judge
from orchestrator.tools.read import Read
from orchestrator.tools.write import Write
from security import PRESETS, Decision, Verdict, analyze
from security.paths import within
from security.verdict import strictest

POLICIES = ("read-only", "dev", "ci-untrusted")
HOME = "/home/agent"  # the sandbox user's home

# (how a person types it in a shell at /workspace, the absolute path a tool is given)
PATHS = [
    (".git/config", "/workspace/.git/config"),
    (".git/hooks/pre-commit", "/workspace/.git/hooks/pre-commit"),
    (".git/info/exclude", "/workspace/.git/info/exclude"),
    (".gitattributes", "/workspace/.gitattributes"),
    (".env", "/workspace/.env"),
    (".env.local", "/workspace/.env.local"),
    ("sub/.env", "/workspace/sub/.env"),
    ("deploy/key.pem", "/workspace/deploy/key.pem"),
    (f"{HOME}/.ssh/id_rsa", f"{HOME}/.ssh/id_rsa"),
    (f"{HOME}/.aws", f"{HOME}/.aws"),
    (f"{HOME}/.bashrc", f"{HOME}/.bashrc"),
    ("/etc/passwd", "/etc/passwd"),
    ("/etc/shadow", "/etc/shadow"),
    ("/proc/self/environ", "/proc/self/environ"),
    ("/run/secrets/token", "/run/secrets/token"),
    ("src/app.py", "/workspace/src/app.py"),
    ("src", "/workspace/src"),
    (".", "/workspace"),
    ("/tmp/x", "/tmp/x"),
    ("../outside", "/outside"),
    (".github/workflows/ci.yml", "/workspace/.github/workflows/ci.yml"),
    ("Makefile", "/workspace/Makefile"),
    (".vscode/settings.json", "/workspace/.vscode/settings.json"),
]

# Bash lines that do what each tool does ({p} is the path as typed, shell-quoted)
BASH = {
    "Read": ("cat {p}", "head -n 5 {p}"),
    "Write": ("echo x > {p}", "printf x > {p}"),
    "Edit": ("sed -i s/a/b/ {p}", "cat {p} && echo x > {p}"),
    "Grep": ("rg -n --hidden foo {p}", "grep -rn foo {p}"),
    "Glob": ("rg --files --hidden {p}", "ls -R {p}", "find {p} -name '*.py'"),
}


def call(tool: Tool[Any], path: str) -> dict[str, Any]:
    return {
        "Read": {"file_path": path},
        "Write": {"file_path": path, "content": "x"},
        "Edit": {"file_path": path, "old_string": "a", "new_string": "b"},
        "Grep": {"pattern": "foo", "path": path},
        "Glob": {"pattern": "*.py", "path": path},
    }[tool.name]


def judge(policy: str, tool: Tool[Any], raw: dict[str, Any]) -> GateResult:
    """The gate's answer with nobody to approve (so an ask is refused)."""
    gate = PermissionGate(PRESETS[policy], Trust(trusted=True, by="flag"))
    return asyncio.run(gate.check(tool, tool.parse(raw)))


def bash_answer(line: str, policy: str) -> Decision:
    """What a Bash call of ``line`` gets with nobody to approve: the analyzer's decision
    as the policy answers it (a headless policy's asks are denies)."""
    return headless_answer(analyze(line, policy), PRESETS[policy]).decision


def bash_decision(policy: str, tool: str, typed: str) -> Decision:
    """The one decision Bash gives every line that does what ``tool`` does."""
    decisions = {bash_answer(line.format(p=shlex.quote(typed)), policy)
                 for line in BASH[tool]}  # fmt: skip
    assert len(decisions) == 1, f"the Bash spellings of {tool} {typed} disagree: {decisions}"
    return decisions.pop()


def own_rule(policy: str, tool: str, path: str) -> Decision:
    """What Write's and Edit's own rules say: ask outside the workspace, or everywhere
    when the policy asks for each edit."""
    if tool not in ("Write", "Edit"):
        return Decision.ALLOW
    inside = within(path, PRESETS[policy].workspace)
    return Decision.ALLOW if inside and PRESETS[policy].edits == "workspace" else Decision.ASK


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("tool", [Read(), Write(), Edit(), Grep(), Glob()], ids=lambda t: t.name)
@pytest.mark.parametrize(("typed", "path"), PATHS, ids=[typed for typed, _ in PATHS])
def test_a_tool_decides_as_bash_does(policy: str, tool: Tool[Any], typed: str, path: str) -> None:
    expected = strictest(
        [bash_decision(policy, tool.name, typed), own_rule(policy, tool.name, path)]
    )
    result = judge(policy, tool, call(tool, path))
    assert result.decision is expected, result.reasons
    assert result.allowed is (expected is Decision.ALLOW)  # nobody to approve: ask is refused


def test_the_table_covers_every_decision() -> None:
    """The table is not all allows: each policy sees allow and a refusal, and the
    tools that class 8 was about are refused where Bash is."""
    seen = {
        (policy, judge(policy, tool, call(tool, path)).decision)
        for policy in POLICIES
        for tool in (Read(), Write())
        for _, path in PATHS
    }
    assert {(p, d) for p in POLICIES for d in (Decision.ALLOW, Decision.DENY)} <= seen
    assert ("read-only", Decision.ASK) in seen and ("dev", Decision.ASK) in seen


@pytest.mark.parametrize("tool", [Write(), Edit()], ids=lambda t: t.name)
@pytest.mark.parametrize(
    "path", ["/workspace/.git/config", "/workspace/.git/hooks/post-index-change"]
)
def test_the_reported_case_an_edit_of_git_config_under_dev_is_denied(
    tool: Tool[Any], path: str
) -> None:
    result = judge("dev", tool, call(tool, path))
    assert not result.allowed and result.decision is Decision.DENY
    assert any(reason.startswith("S26") for reason in result.reasons)


@pytest.mark.parametrize("tool", [Read(), Grep()], ids=lambda t: t.name)
def test_the_reported_case_reading_dotenv_is_judged_like_cat(tool: Tool[Any]) -> None:
    assert analyze("cat .env", "read-only").decision is Decision.ASK
    raw = call(tool, "/workspace/.env")
    asked: list[str] = []
    approved = PermissionGate(
        PRESETS["read-only"],
        Trust(trusted=True, by="flag"),
        approver=lambda r: not asked.append(r.tool),
    )
    result = asyncio.run(approved.check(tool, tool.parse(raw)))
    assert result.allowed and result.decided_by == "callback" and asked == [tool.name]
    assert any(reason.startswith("S27") for reason in result.reasons)
    # headless, nobody is asked: the ask is a deny, as it is for `cat .env` (the
    # analyzer reports the ask; the headless policy answers it)
    assert analyze("cat .env", "ci-untrusted").decision is Decision.ASK
    assert bash_answer("cat .env", "ci-untrusted") is Decision.DENY
    assert judge("ci-untrusted", tool, raw).decision is Decision.DENY


def test_a_home_path_typed_with_a_tilde_is_the_same_file() -> None:
    for policy in POLICIES:
        for typed, path in (("~/.ssh/id_rsa", f"{HOME}/.ssh/id_rsa"), ("~/.env", f"{HOME}/.env")):
            assert (
                judge(policy, Read(), {"file_path": path}).decision
                is bash_answer(f"cat {typed}", policy)
                is not Decision.ALLOW
            )


def test_a_grep_pattern_is_data_not_a_path() -> None:
    """A pattern that mentions a secret path reads nothing: Grep is judged like the rg
    line with its pattern on standard input. (The analyzer asks for
    ``grep -rn '~/.ssh' docs/`` today: it reads the pattern as a path.)"""
    for policy in POLICIES:
        for pattern in ("~/.ssh", "/workspace/.env", "id_rsa", "$(touch /workspace/x)"):
            result = judge(policy, Grep(), {"pattern": pattern, "path": "/workspace/docs"})
            assert result.allowed, (policy, pattern, result.reasons)
            assert analyze("rg -n --hidden -f - docs", policy).decision is Decision.ALLOW


def test_a_glob_or_a_listing_pattern_that_names_a_secret_is_judged_as_bash_does() -> None:
    for policy in POLICIES:
        bash = bash_answer("rg --files --hidden -g '**/.env' .", policy)
        listing = judge(policy, Glob(), {"pattern": "**/.env", "path": "/workspace"})
        search = judge(policy, Grep(), {"pattern": "x", "glob": "**/.env"})
        assert bash is not Decision.ALLOW
        assert listing.decision is bash and search.decision is bash


@pytest.mark.parametrize(
    "name",
    [
        "/workspace/a b; rm -rf ~",
        "/workspace/$(touch pwned)",
        "/workspace/`id`",
        "/workspace/x' && echo y > .git/config; '",
        "/workspace/new\nline",
        "/workspace/-rf",
        "/workspace/*",
    ],
)
def test_a_file_name_is_judged_as_a_name_never_as_shell_syntax(name: str) -> None:
    """The tool's line quotes its path: a name that holds shell syntax reads, writes
    and runs nothing else, so it gets the decision of an ordinary file name."""
    for policy in POLICIES:
        plain = judge(policy, Read(), {"file_path": "/workspace/plain.txt"}).decision
        assert judge(policy, Read(), {"file_path": name}).decision is plain
        write = judge(policy, Write(), {"file_path": name, "content": "x"}).decision
        assert (
            write is judge(policy, Write(), {"file_path": "/workspace/p", "content": "x"}).decision
        )


def test_a_bash_call_is_judged_as_before() -> None:
    assert judge("read-only", Bash(), {"command": "cat .env"}).decision is Decision.ASK
    assert judge("dev", Bash(), {"command": "echo x > .git/config"}).decision is Decision.DENY


def test_a_relative_path_is_still_an_input_error() -> None:
    for tool in (Read(), Write(), Edit(), Grep(), Glob()):
        with pytest.raises(ToolError, match="absolute path"):
            judge("dev", tool, call(tool, "src/app.py"))


def test_read_judge_finds_every_secret_in_a_large_batch() -> None:
    """Grep's view of the files a directory search met: one `cat` per batch, split
    until each refused file stands alone; same answers as one `cat` per file."""
    paths = [f"/workspace/src/m{i}.py" for i in range(300)]
    secrets = ["/workspace/.env", "/workspace/a/.env.prod", f"{HOME}/.ssh/id_ed25519"]
    mixed = paths[:100] + secrets[:1] + paths[100:250] + secrets[1:] + paths[250:]
    for policy in POLICIES:
        readable = read_judge(PRESETS[policy])(mixed)
        assert readable == frozenset(paths)
        one_by_one = {
            p
            for p in mixed
            if analyze(f"cat -- {shlex.quote(p)}", policy).decision is Decision.ALLOW
        }
        assert readable == one_by_one
    assert read_judge(PRESETS["dev"])([]) == frozenset()


class _RecordingClassifier(SafetyClassifier):
    """A stand-in that answers allow and records the lines it was shown (no API)."""

    def __init__(self) -> None:  # no client: this one never calls a model
        self.model = "stand-in"
        self.lines: list[str] = []

    async def classify(
        self, command: str, verdict: Verdict, policy_name: str
    ) -> ClassifierAnswer | None:
        if not self.eligible(verdict):
            return None
        self.lines.append(command)
        return ClassifierAnswer(decision="allow", reason="routine", model=self.model)


def test_the_classifier_sees_the_equivalent_line_and_never_a_tools_own_ask() -> None:
    """Under a classifying headless policy, Read of .env reaches the classifier as the
    line Bash would run (the same as `cat .env` would); an ask that Write's own rule
    raised (outside the workspace) never does: it stays a deny."""
    policy = PRESETS["ci-untrusted"].model_copy(update={"classify_asks": True})
    classifier = _RecordingClassifier()
    gate = PermissionGate(policy, Trust(trusted=True, by="flag"), classifier=classifier)

    def check(tool: Tool[Any], raw: dict[str, Any]) -> GateResult:
        return asyncio.run(gate.check(tool, tool.parse(raw)))

    read = check(Read(), {"file_path": "/workspace/.env"})
    assert read.allowed and read.decided_by == "classifier"
    assert classifier.lines == ["cat -- /workspace/.env"]
    write = check(Write(), {"file_path": "/tmp/x", "content": "x"})
    assert not write.allowed and write.decided_by == "policy"
    denied = check(Write(), {"file_path": "/workspace/.git/config", "content": "x"})
    assert not denied.allowed and denied.decision is Decision.DENY
    assert classifier.lines == ["cat -- /workspace/.env"]
