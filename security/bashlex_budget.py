"""A deterministic budget, counted in steps, for bashlex (which loops forever on some lines).

bashlex 0.18 never returns on some inputs: on ``x'${a'`` its word expansion goes back
to the start of the word after ``${`` and comes round again, forever, growing its
output each time (a saved hypothesis example grew to 18 GB). Time is no measure of
that: a loaded machine is slow on plain lines too. So each parse gets a budget of
*steps*, spent in the parsing thread at fixed points of bashlex's work:

- every character a tokenizer reads (``tokenizer._getc``);
- every reduction of the LR parser (each grammar rule's function);
- every parameter or substitution word expansion starts (``subst._paramexpand``), plus
  one step per character it sends the expansion back over.

Each pass of each loop in bashlex's parse reads a character, reduces, starts an
expansion, or moves forward through a string of bounded length; so a loop that never
ends runs out of steps, at the same step on every run on any machine, and
`ParseBudgetExceeded` is raised where that step was taken. What a loop can allocate
is in proportion to the steps it took, so memory stays bounded too. The parses
bashlex starts for substitutions (``$(...)``, backquotes, ``<(...)``) spend from the
same budget.

The budget also bounds nesting: blocks (``( )``, ``{ }``, ``if``, loops) and
substitutions, counted together. The parse, and the analyzer's walk of its tree,
recurse with it; below `MAX_NESTING` they stay far from Python's recursion limit, so
a verdict does not depend on how deep the caller's stack already was.

No code of bashlex is copied (it is GPL-3.0): its tokenizer and parse context are
subclassed (a budgeted context sets the fields bashlex's constructor sets, with a
counting tokenizer), the LR parser gets a copy of its rule table with each rule
wrapped, and two names of bashlex are rebound (``parser._parser``, so the nested
parses bashlex starts are counted, and ``subst._paramexpand``). Without an active
budget they behave exactly as bashlex does. These are bashlex internals:
pyproject.toml pins the version this was written against, the import below refuses
any other, and tests/unit/security/test_bashlex_budget.py checks the internals it
relies on.
"""

from __future__ import annotations

import copy
import importlib.metadata
import threading
from collections.abc import Callable
from typing import Any, NoReturn

import bashlex
import bashlex.parser
import bashlex.subst
import bashlex.tokenizer
from bashlex.state import parserstate

BASHLEX_VERSION = "0.18"  # the internals used below are this release's

# Limits. Legitimate lines take at most about 7 steps per character, plus one per
# character for each level of substitution nesting they sit in (bashlex reads the text
# of a substitution again for each level): at most ~32 under MAX_NESTING. The
# corpus and generated lines of the maximum accepted length are measured against
# these in tests/unit/security/test_bashlex_budget.py.
BASE_STEPS = 2_000
STEPS_PER_CHAR = 64
MAX_NESTING = 100
SUBSTITUTION_LEVELS = 4  # a nested parse costs about as much stack as 4 blocks


class ParseBudgetExceeded(Exception):
    """bashlex took more steps, or nested deeper, than any legitimate line needs."""


class StepBudget:
    """The steps one line may take. Once spent, every further step raises again."""

    __slots__ = ("left", "limit", "nesting")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit  # counted down where steps are taken: the hot path is short
        self.nesting = 0

    @property
    def spent(self) -> int:
        return self.limit - self.left

    @classmethod
    def for_text(cls, text: str) -> StepBudget:
        return cls(BASE_STEPS + STEPS_PER_CHAR * len(text))

    def exceeded(self) -> NoReturn:
        raise ParseBudgetExceeded(f"bashlex took more than {self.limit} steps")

    def nest(self, levels: int, floor: int) -> None:
        self.nesting = max(self.nesting + levels, floor)
        if self.nesting > MAX_NESTING:
            raise ParseBudgetExceeded(f"blocks and substitutions nest deeper than {MAX_NESTING}")


_active = threading.local()  # .budget: the StepBudget for bashlex parses in this thread


class budgeted:
    """Count every bashlex parse made in this thread inside the block against ``budget``."""

    __slots__ = ("_budget", "_outer")

    def __init__(self, budget: StepBudget) -> None:
        self._budget = budget
        self._outer: StepBudget | None = None

    def __enter__(self) -> StepBudget:
        self._outer = getattr(_active, "budget", None)
        _active.budget = self._budget
        return self._budget

    def __exit__(self, *exc: object) -> None:
        _active.budget = self._outer


def parse_context(text: str) -> Any:
    """bashlex's parse context for ``text`` (``.parse()`` gives its tree), counted
    against the budget active in this thread, if any."""
    return _BudgetedContext(text)


# -- the tokenizer: a step per character read; nesting by tokens ---------------------

_TOKENIZER: type[Any] = bashlex.tokenizer.tokenizer
_plain_getc: Callable[..., str | None] = _TOKENIZER._getc
_plain_token: Callable[[Any], Any] = _TOKENIZER.token
_kind = bashlex.tokenizer.tokentype
_OPENS = ("IF", "CASE", "FOR", "SELECT", "WHILE", "UNTIL", "LEFT_CURLY", "LEFT_PAREN")
_CLOSES = ("FI", "ESAC", "DONE", "RIGHT_CURLY", "RIGHT_PAREN")
_NESTS = {_kind[name]: 1 for name in _OPENS} | {_kind[name]: -1 for name in _CLOSES}


class _CountingTokenizer(_TOKENIZER):  # type: ignore[misc]
    """bashlex's tokenizer, spending a step on every character it reads and keeping
    count of the blocks it has opened and not closed."""

    def __init__(self, budget: StepBudget, *args: Any, **kwargs: Any) -> None:
        self.budget = budget
        self.floor = 0  # closing tokens never take the count below this parse's start
        super().__init__(*args, **kwargs)

    def _getc(self, remove_quoted_newline: bool = True) -> str | None:
        budget = self.budget
        budget.left -= 1
        if budget.left < 0:
            budget.exceeded()
        return _plain_getc(self, remove_quoted_newline)

    def token(self) -> Any:
        token = _plain_token(self)
        levels = _NESTS.get(token.ttype)
        if levels is not None:
            self.budget.nest(levels, self.floor)
        return token


# -- the LR parser: a step per reduction ---------------------------------------------


def _counting(rule: Callable[[Any], None]) -> Callable[[Any], None]:
    def reduce(production: Any) -> None:
        budget = production.context.budget
        budget.left -= 1
        if budget.left < 0:
            budget.exceeded()
        rule(production)

    return reduce


def _counting_tables() -> Any:
    """bashlex's LR parser, with a rule table whose every rule spends a step."""
    tables = copy.copy(bashlex.parser.yaccparser)
    rules = []
    for production in tables.productions:
        rule = copy.copy(production)
        if rule.callable is not None:
            rule.callable = _counting(rule.callable)
        rules.append(rule)
    tables.productions = rules
    return tables


_COUNTING_TABLES = _counting_tables()


def fresh_counting_parser() -> Any:
    """What bashlex's ``copy.copy(yaccparser)`` makes for each parse (a shallow copy of
    a plain object), at a fifth of the cost, of the counting tables."""
    parser = object.__new__(type(_COUNTING_TABLES))
    parser.__dict__.update(_COUNTING_TABLES.__dict__)
    return parser


# -- the parse context: every parse bashlex starts, top-level or nested --------------

_CONTEXT: type[Any] = bashlex.parser._parser


class _BudgetedContext(_CONTEXT):  # type: ignore[misc]
    """bashlex's parse context; with a budget active in this thread, a counted parse.

    It takes the place of ``bashlex.parser._parser``, so the parses bashlex starts
    for substitutions count against the budget of the line they are in.
    """

    budget: StepBudget | None = None

    def __init__(
        self,
        s: str,
        strictmode: bool = True,
        expansionlimit: int | None = None,
        tokenizerargs: dict[str, Any] | None = None,
    ) -> None:
        budget: StepBudget | None = getattr(_active, "budget", None)
        if budget is None:
            super().__init__(s, strictmode, expansionlimit, tokenizerargs)
            return
        # The fields bashlex's own constructor sets (a test holds them equal), with a
        # counting tokenizer. Setting them here, rather than letting bashlex build a
        # tokenizer to be replaced, saves a fifth of the budget's cost; changing the
        # class of bashlex's tokenizer object instead would make it twice as slow.
        self.s = s
        self._strictmode = strictmode
        self._expansionlimit = expansionlimit
        args = dict(tokenizerargs or {})
        self.parserstate = args.pop("parserstate") if "parserstate" in args else parserstate()
        self.tok = _CountingTokenizer(
            budget, s, parserstate=self.parserstate, strictmode=strictmode, **args
        )
        self.redirstack = self.tok.redirstack
        self.budget = budget

    def parse(self) -> Any:
        budget = self.budget
        if budget is None:
            return super().parse()
        outer = budget.nesting
        budget.nest(SUBSTITUTION_LEVELS, outer)
        self.tok.floor = budget.nesting
        try:
            return fresh_counting_parser().parse(lexer=self.tok, context=self)
        finally:
            budget.nesting = outer


# -- word expansion: a step per expansion, and per character it goes back over --------

_plain_paramexpand: Callable[..., Any] = bashlex.subst._paramexpand


def _counting_paramexpand(parserobj: Any, string: str, sindex: int) -> Any:
    """bashlex's ``_paramexpand``; spends a step, and one per character it goes back.

    bashlex's expansion loop goes on from the offset this returns. On ``x'${a'`` that
    offset is 0: the loop walks the word again up to here and comes back, forever,
    adding to its output each time. Charging each call that walk makes the loop run
    out of steps while what it built is still in proportion to the steps spent.
    """
    budget: StepBudget | None = getattr(parserobj, "budget", None)
    if budget is None:
        return _plain_paramexpand(parserobj, string, sindex)
    node, after = _plain_paramexpand(parserobj, string, sindex)
    budget.left -= 1 if after > sindex else 1 + sindex - after
    if budget.left < 0:
        budget.exceeded()
    return node, after


def _install() -> None:
    installed = importlib.metadata.version("bashlex")
    if installed != BASHLEX_VERSION:
        raise ImportError(
            f"security.bashlex_budget hooks into bashlex {BASHLEX_VERSION}'s internals; "
            f"bashlex {installed} is installed (see pyproject.toml)"
        )
    if bashlex.parser._parser is not _BudgetedContext:
        bashlex.parser._parser = _BudgetedContext
        bashlex.subst._paramexpand = _counting_paramexpand


_install()
