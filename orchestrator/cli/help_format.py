"""How a command's ``--help`` reads: plain text, metavars, no type placeholders.

typer writes each argument as ``TASK <str>`` and each required one as ``{TASK}`` in the
usage line. `HelpCommand` writes them the way click and most Unix tools do (``TASK``,
``[COMMAND]...``), so the help reads the same in a terminal and in a CI log. Every
`airlock` command is registered with it (``cls=HelpCommand``); a test checks that no
placeholder is left in any ``--help``.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperCommand


def _metavar(param: Any) -> str:
    return str(param.metavar or param.name).upper()


def _argument_name(param: Any) -> str:
    name = _metavar(param)
    return f"{name}..." if param.nargs != 1 else name


def _argument_usage(param: Any) -> str:
    name = _metavar(param)
    shown = name if param.required else f"[{name}]"
    return f"{shown}..." if param.nargs != 1 else shown


class HelpCommand(TyperCommand):
    """A typer command whose help names arguments by metavar alone."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        pieces += [_argument_usage(p) for p in self.get_params(ctx) if _is_argument(p)]
        return pieces

    def format_options(self, ctx: Any, formatter: Any) -> None:
        arguments: list[tuple[str, str]] = []
        options: list[tuple[str, str]] = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if _is_argument(param):
                arguments.append((_argument_name(param), record[1]))
            else:
                options.append(record)
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _is_argument(param: Any) -> bool:
    return bool(param.param_type_name == "argument")
