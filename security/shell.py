"""Parse a command line with bashlex and flatten it into the simple commands it runs.

The walk visits every place a command can hide: lists, pipelines, subshells,
groups, loops, conditionals, function bodies, and command or process
substitutions in words, assignments and redirections. What bashlex cannot parse
raises `ShellSyntaxError`; the analyzer turns that into a refusal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import bashlex
import bashlex.ast
import bashlex.errors
import bashlex.parser

from security.bashlex_budget import ParseBudgetExceeded, StepBudget, budgeted, parse_context
from security.cond_command import cond_start_before, translate
from security.wordscan import WordScan, scan_word


class ShellSyntaxError(Exception):
    """bashlex could not parse the line (or a shell string nested in it)."""


class Word(NamedTuple):
    """One word as written and as the shell will see it (a tuple: cheap to build)."""

    raw: str
    scan: WordScan
    parsed: str  # bashlex's value after quote removal
    parts: frozenset[str]  # bashlex node kinds inside: parameter, commandsubstitution, ...
    start: int = 0

    @property
    def value(self) -> str:
        return self.scan.value

    @property
    def literal(self) -> bool:
        """Expands to exactly ``value``: no expansion, glob, brace or tilde."""
        scan = self.scan
        if not scan.unquoted:  # the common case; a leading unquoted ~ is in `unquoted`
            return not (self.parts or scan.expands or scan.locale)
        return not (
            self.parts
            or scan.expands
            or scan.locale
            or "*" in scan.unquoted
            or "?" in scan.unquoted
            or ("[" in scan.unquoted and "]" in scan.unquoted)
            or ("{" in scan.unquoted and "}" in scan.unquoted)
            or (self.raw.startswith("~"))
        )

    @classmethod
    def synthetic(cls, text: str) -> Word:
        """A word that came from an already quote-removed value (an unwrapped argv)."""
        return cls(raw=text, scan=scan_word(_quote(text)), parsed=text, parts=frozenset())


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


@dataclass(frozen=True, slots=True)
class Redirect:
    op: str  # '>', '>>', '<', '<<', '<<-', '<<<', '>&', '<&', '&>', '>|', '<>'
    fd: int | None
    target: Word | None  # None when the target is a file descriptor number
    target_fd: int | None = None
    heredoc: str | None = None
    heredoc_expands: bool = False  # unquoted delimiter: the body undergoes expansion

    @property
    def writes(self) -> bool:
        closes = self.target is not None and self.target.value == "-"  # `>&-` closes the fd
        return self.op in {">", ">>", "&>", "&>>", ">|", "<>"} or (
            self.op == ">&" and self.target is not None and not closes
        )


@dataclass(slots=True)
class Command:
    """One simple command, wherever it was found."""

    words: list[Word]
    assignments: list[Word] = field(default_factory=list)
    redirects: list[Redirect] = field(default_factory=list)
    origin: str = "line"  # where it came from: line, substitution, sh -c, find -exec, ...
    depth: int = 0  # nesting depth of shell strings (sh -c, eval) around it
    background: bool = False
    piped_stdin: bool = False  # its stdin is the output of a previous pipeline stage
    wrapped: bool = False  # unwrapped from another command's arguments (env, timeout, ...)
    implied: bool = False  # run by another command without being written (bare xargs: echo)
    # a `[[ ]]` read as `[` (security/cond_command.py): its words are neither split nor
    # globbed, and its operators were fixed before any expansion
    conditional: bool = False
    _base: str | None = field(default=None, repr=False, compare=False)
    _argv: list[str] | None = field(default=None, repr=False, compare=False)
    _text: str | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str:
        """Every word, assignment and redirection target, raw and unquoted, NUL-joined.

        Cached like `argv`. Checks' triggers look for their tokens here.
        """
        if self._text is None:
            words = self.words + self.assignments
            if self.redirects:
                words += [r.target for r in self.redirects if r.target is not None]
            text = "\0".join([w.raw for w in words])
            unquoted = [w.value for w in words if w.scan.quoted]  # else the value is the raw
            self._text = "\0".join([text, *unquoted]) if unquoted else text
        return self._text

    @property
    def argv(self) -> list[str]:
        """The words after quote removal (cached, like `base_name`: read after the walk)."""
        if self._argv is None:
            self._argv = [w.value for w in self.words]
        return self._argv

    @property
    def name(self) -> str:
        return self.words[0].value if self.words else ""

    @property
    def base_name(self) -> str:
        """The command name without its directory: ``/usr/bin/curl`` -> ``curl``.

        Cached: read only once the command's words are complete (after the walk).
        """
        if self._base is None:
            self._base = self.name.rsplit("/", 1)[-1]
        return self._base


@dataclass(slots=True)
class ParsedLine:
    commands: list[Command]
    functions: list[tuple[str, int]]  # (name, index of the first command of its body)
    hidden: list[str]  # substitutions found where bashlex does not look (reasons)
    nodes: list[Any]  # bashlex trees, for the parser differential


_NO_PARTS: frozenset[str] = frozenset()
_QUOTED_HEREDOC = re.compile(r"<<(-?)([ \t]*)(?:'([^'\n]*)'|\"([^\"\n]*)\"|\\(\w+))")


def _blank_heredoc_quotes(line: str) -> tuple[str, set[int]]:
    """bashlex rejects quoted here-document delimiters (<<'EOF'); blank the quotes.

    The spelling keeps its length, so positions still point into the original line.
    Returns the new text and the offsets of the heredoc operators whose delimiter was
    quoted (their bodies do not expand).
    """
    quoted_at: set[int] = set()

    def blank(match: re.Match[str]) -> str:
        quoted_at.add(match.start())
        text = match.group(0)
        return text[:2] + re.sub(r"['\"\\]", " ", text[2:])

    return _QUOTED_HEREDOC.sub(blank, line), quoted_at


def parse_line(line: str, origin: str = "line", depth: int = 0) -> ParsedLine:
    """Parse ``line`` and return every simple command in it (not yet unwrapped)."""
    try:
        nodes, quoted_heredocs, conds = _parse_rewritten(line)
    except bashlex.errors.ParsingError as exc:
        raise ShellSyntaxError(_describe(exc)) from exc
    except RecursionError as exc:
        raise ShellSyntaxError("nested too deeply to parse") from exc
    except ParseBudgetExceeded as exc:
        raise ShellSyntaxError(str(exc)) from exc
    except ShellSyntaxError:
        raise
    except Exception as exc:  # bashlex's own bugs (NameError, AttributeError...): unparseable
        raise ShellSyntaxError(_describe(exc)) from exc
    walker = _Walker(line, origin, depth, quoted_heredocs, conds)
    try:
        for node in nodes:
            walker.visit(node)
    except RecursionError as exc:
        raise ShellSyntaxError("nested too deeply to analyze") from exc
    return ParsedLine(walker.commands, walker.functions, walker.hidden, nodes)


MAX_COND_COMMANDS = 32  # `[[ ]]` rewritten per line; past that the line is unparseable


def _parse_rewritten(line: str) -> tuple[list[Any], set[int], frozenset[int]]:
    """bashlex's trees for ``line``, parsed again after each same-length rewrite of
    what bashlex rejects but bash runs: quoted here-document delimiters, and ``[[ ]]``
    (`security.cond_command`). Returns the trees, the offsets of the quoted
    here-documents and those of the rewritten ``[[``; raises bashlex's error when no
    rewrite applies."""
    text, quoted_heredocs = line, set[int]()
    conds: list[tuple[int, int]] = []  # (offset of `[`, offset of `]`) of each rewrite
    while True:
        try:
            nodes = _bashlex_parse(text)
            break
        except bashlex.errors.ParsingError as exc:
            if not quoted_heredocs and "here-document" in str(exc):
                text, quoted_heredocs = _blank_heredoc_quotes(text)
                if quoted_heredocs:
                    continue
                raise
            start = cond_start_before(text, exc.position) if exc.s == text else None
            rewritten = translate(text, start) if start is not None else None
            if rewritten is None or len(conds) >= MAX_COND_COMMANDS:
                raise
            text, close = rewritten
            assert start is not None
            conds.append((start, close))
    if conds and not _stand_alone(nodes, conds):
        raise bashlex.errors.ParsingError("[[ read as a command where bash would not", text, 0)
    return nodes, quoted_heredocs, frozenset(start for start, _ in conds)


def _stand_alone(nodes: list[Any], conds: list[tuple[int, int]]) -> bool:
    """Whether every rewritten ``[[ ]]`` is a simple command of its own in ``nodes``:
    its ``[`` the first word and its ``]`` the last."""
    spans = {(words[0][0], words[-1][0]) for words in command_word_spans(nodes) if words}
    return all(span in spans for span in conds)


# bashlex attributes that may hold child nodes (which one depends on the node's kind).
# FunctionNode also has `name` and `body`, but they repeat members of its `parts`.
_BASHLEX_CHILDREN = ("parts", "list", "command", "output", "heredoc", "redirects")


def command_word_spans(nodes: list[Any]) -> Iterator[list[tuple[int, int]]]:
    """The (start, end) of each word of every simple command in bashlex's ``nodes``,
    nested ones included (assignments and redirections are parts, but not words)."""
    stack = list(nodes)
    while stack:
        node = stack.pop()
        if node.kind == "command":
            yield [part.pos for part in node.parts if part.kind == "word"]
        for name in _BASHLEX_CHILDREN:
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend(value)
            elif hasattr(value, "kind"):  # `output` is an int for `2>&1`
                stack.append(value)


def _bashlex_parse(text: str) -> list[Any]:
    """bashlex's trees for ``text``, within a step budget for its length: bashlex loops
    forever on some lines, and those raise `ParseBudgetExceeded` (the same ones, at
    the same step, on any machine under any load)."""
    with budgeted(StepBudget.for_text(text)):
        return _parse_parts(text)


def _parse_parts(text: str) -> list[Any]:
    """``bashlex.parse(text)``: its loop over top-level parts, done without the
    visitor class it defines on every call, and scanning for heredoc ends only when
    the text holds ``<<``. ``tests/unit/security/test_shell_parse.py`` holds it equal
    to ``bashlex.parse``.
    """
    parts: list[Any] = []
    index = 0
    while index < len(text) or not parts:
        part = _parse_one(text[index:] if index else text)
        if not isinstance(part, bashlex.ast.node):
            if parts:
                break
            raise EmptyLine("no command in the line (empty, or only a comment)")
        if index:
            bashlex.ast.posshifter(index).visit(part)
        parts.append(part)
        end = part.pos[1]
        if "<<" in text:
            finder = bashlex.parser._endfinder()
            finder.visit(part)
            end = max(end, finder.end)
        index = end + 1
    return parts


def _parse_one(text: str) -> Any:
    """``bashlex.parser._parser(text).parse()``, counted against the active budget."""
    return parse_context(text).parse()


class EmptyLine(ShellSyntaxError):
    """A line with nothing to run: bashlex has no tree for it."""


def _describe(exc: BaseException) -> str:
    if isinstance(exc, NotImplementedError):
        return f"bashlex does not support {exc or 'this construct'}"
    return f"{type(exc).__name__}: {exc}"


class _Walker:
    def __init__(
        self,
        line: str,
        origin: str,
        depth: int,
        quoted_heredocs: set[int],
        conds: frozenset[int] = frozenset(),
    ) -> None:
        self.conds = conds
        self.line = line
        self.origin = origin
        self.depth = depth
        self.quoted_heredocs = quoted_heredocs
        self.commands: list[Command] = []
        self.functions: list[tuple[str, int]] = []
        self.hidden: list[str] = []

    # -- structure ------------------------------------------------------------------

    def visit(
        self, node: Any, origin: str | None = None, background: bool = False, piped: bool = False
    ) -> None:
        origin = origin or self.origin
        kind = node.kind
        if kind == "command":
            self._command(node, origin, background, piped)
        elif kind == "list":
            parts = node.parts
            for i, part in enumerate(parts):
                if part.kind == "operator":
                    continue
                follows = parts[i + 1] if i + 1 < len(parts) else None
                in_background = background or (
                    follows is not None and follows.kind == "operator" and follows.op == "&"
                )
                self.visit(part, origin, in_background, piped)
        elif kind == "pipeline":
            stage = 0
            for part in node.parts:
                if part.kind in ("pipe", "reservedword"):
                    continue
                self.visit(part, origin, background, piped or stage > 0)
                stage += 1
        elif kind == "compound":
            first = len(self.commands)
            for part in node.list:
                self.visit(part, origin, background, piped)
            self._share_redirects(node, self.commands[first:], origin)
        elif kind in ("if", "while", "until", "for"):
            for part in node.parts:
                if part.kind == "word":  # for-loop items: only their substitutions run
                    self._word_parts(part, origin)
                else:
                    self.visit(part, origin, background, piped)
        elif kind == "function":
            self.functions.append((node.name.word, len(self.commands)))
            self.visit(node.body, "function", background, piped)
        elif kind in ("reservedword", "operator", "pipe"):
            return
        elif kind == "word":
            self._word_parts(node, origin)
        else:
            raise ShellSyntaxError(f"unexpected bashlex node {kind!r}")

    def _share_redirects(self, node: Any, inside: list[Command], origin: str) -> None:
        """A group's, subshell's or loop's redirections apply to every command in it:
        `{ ls; } > out` writes out. Each command of its own list gets them (not those
        of substitutions, whose output goes elsewhere); a heredoc's body is analyzed once.
        """
        redirects = getattr(node, "redirects", [])
        for redirect in redirects:
            self._redirect_parts(redirect, origin)
        shared = [self._redirect(r) for r in redirects]
        if not shared:
            return
        plain = [r for r in shared if r.heredoc is None]
        for index, command in enumerate(c for c in inside if c.origin == origin):
            command.redirects.extend(shared if index == 0 else plain)

    def _command(self, node: Any, origin: str, background: bool, piped: bool) -> None:
        command = Command(
            words=[], origin=origin, depth=self.depth, background=background, piped_stdin=piped
        )
        self.commands.append(command)
        for part in node.parts:
            kind = part.kind
            if kind == "word" or kind == "assignment":
                word = self._word(part)
                (command.words if kind == "word" else command.assignments).append(word)
                if word.parts:
                    self._word_parts(part, "substitution")
            elif kind == "redirect":
                command.redirects.append(self._redirect(part))
                self._redirect_parts(part, "substitution")
            else:
                raise ShellSyntaxError(f"unexpected {kind!r} in a command")
        command.conditional = bool(command.words) and command.words[0].start in self.conds

    # -- words ------------------------------------------------------------------------

    def _word(self, node: Any) -> Word:
        start, end = node.pos
        raw = self.line[start:end]
        parts = getattr(node, "parts", None)
        kinds = frozenset(p.kind for p in parts) if parts else _NO_PARTS
        return Word(raw, scan_word(raw), node.word, kinds, start)

    def _word_parts(self, node: Any, origin: str) -> None:
        for part in getattr(node, "parts", []):
            if part.kind in ("commandsubstitution", "processsubstitution"):
                self.visit(part.command, origin)
            elif part.kind == "parameter":
                value = getattr(part, "value", "") or ""
                if "$(" in value or "`" in value or "<(" in value or ">(" in value:
                    self.hidden.append(f"substitution inside ${{{value}}}")

    def _redirect(self, node: Any) -> Redirect:
        target = node.output
        fd = node.input if isinstance(getattr(node, "input", None), int) else None
        heredoc = getattr(node, "heredoc", None)
        body = heredoc.value if heredoc is not None else None
        if body is not None and "\n" in body:
            body = body.rsplit("\n", 1)[0]  # bashlex keeps the closing delimiter line
        elif body is not None:
            body = ""
        if isinstance(target, int):
            return Redirect(op=node.type, fd=fd, target=None, target_fd=target)
        if isinstance(target, str):  # bashlex gives `<&-` and `>&-` their target as text
            return Redirect(op=node.type, fd=fd, target=Word.synthetic(target))
        expands = heredoc is not None and node.pos[0] not in self.quoted_heredocs
        return Redirect(
            op=node.type, fd=fd, target=self._word(target), heredoc=body, heredoc_expands=expands
        )

    def _redirect_parts(self, node: Any, origin: str) -> None:
        if not isinstance(node.output, int):
            self._word_parts(node.output, origin)
