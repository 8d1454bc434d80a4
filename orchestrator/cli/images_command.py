"""`airlock images build|list`: the sandbox images, built from their recipes."""

from __future__ import annotations

from typing import Annotated

import typer

from orchestrator.cli.consoles import err, out
from orchestrator.cli.errors import exit_on_failure
from orchestrator.cli.help_format import HelpCommand
from orchestrator.events import safe_text

images_app = typer.Typer(help="Build and inspect the sandbox images.", no_args_is_help=True)


@images_app.command("build", cls=HelpCommand)
def images_build(
    names: Annotated[
        list[str] | None, typer.Argument(metavar="NAME", help="Images to build (default: all).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Rebuild even if the recipe is unchanged.")] = False,
) -> None:
    """Build the images whose recipe changed (or that are missing).

    Images are built from Debian packages on this machine (mmdebstrap), never pulled.

    \b
    Examples:
      airlock images build
      airlock images build airlock/dev --force
    """
    from sandbox import images
    from sandbox.engine import engine

    with exit_on_failure():
        recipes = tuple(images.recipe_named(n) for n in names) if names else None
        with engine() as client:
            statuses = images.ensure(
                client,
                recipes or images.RECIPES,
                force=force,
                log=lambda line: err.print(safe_text.text(("images:", "dim"), f" {line}")),
            )
        for status in statuses:
            err.print(f"[dim]images:[/] {status.tag} {status.state.value}")


@images_app.command("list", cls=HelpCommand)
def images_list() -> None:
    """Show each image, its recipe hash and whether it is current.

    \b
    Example:
      airlock images list
    """
    from rich.table import Table

    from sandbox import images
    from sandbox.engine import engine

    with exit_on_failure():
        with engine() as client:
            statuses = [images.status(client, r) for r in images.RECIPES]
        table = Table()
        for column in ("image", "recipe", "state", "size"):
            table.add_column(column)
        for s in statuses:
            size = f"{s.size_bytes / 1e6:.1f} MB" if s.size_bytes else ""
            table.add_row(s.name, s.recipe_hash, s.state.value, size)
        out.print(table)
