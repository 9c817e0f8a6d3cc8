"""A command group that imports a sub-command's module only when that sub-command runs.

Building every sub-command up front costs seconds: each module pulls in what its commands use
(SQLAlchemy, pint, numpy, WeasyPrint, aio-pika, asyncssh ...) and Typer evaluates every
signature. The group knows each lazy command by name, module and one-line help, lists them in
`--help` from that table, and imports a module when its command is resolved (run, or asked for
its own `--help`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    from collections.abc import Mapping

    # Typer vendors Click; the group's hooks take and return its classes.
    from typer import _click as click


@dataclass(frozen=True)
class Lazy:
    """A sub-command known by its import path (`module:attribute`) and its one-line help."""

    target: str
    help: str

    def load(self, name: str) -> click.Command:
        """Import the module and build the command: a Typer sub-app or a plain function."""
        module, _, attribute = self.target.partition(":")
        found: Any = getattr(importlib.import_module(module), attribute)
        if isinstance(found, typer.Typer):
            group = typer.main.get_group(found)
            group.name = name
            return group
        # A plain function becomes a one-command Typer, built the way `app.command` would.
        holder = typer.Typer(add_completion=False)
        holder.command(name, help=self.help)(found)
        return typer.main.get_command(holder)

    def summary(self, name: str) -> click.Command:
        """What the parent's command list shows: the name and the help, nothing imported."""
        return TyperCommand(name, help=self.help)


class LazyGroup(TyperGroup):
    """A Typer group whose `lazy` table names commands imported on first use."""

    lazy: ClassVar[Mapping[str, Lazy]] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self._listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        """The eager commands, then the lazy ones in the table's order."""
        eager = super().list_commands(ctx)
        return [*eager, *(name for name in self.lazy if name not in eager)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command, imported on first use; only its summary while the list is printed."""
        known = self.commands.get(cmd_name)
        entry = self.lazy.get(cmd_name)
        if known is not None or entry is None:
            return known
        if self._listing:
            return entry.summary(cmd_name)
        self.commands[cmd_name] = command = entry.load(cmd_name)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Resolve as Typer does, offering the lazy names too when suggesting a near miss."""
        unloaded = [name for name in self.lazy if name not in self.commands]
        # Typer suggests from `self.commands`; names alone are enough for the suggestion.
        placeholders = {name: self.lazy[name].summary(name) for name in unloaded}
        if args and args[0] in placeholders:
            return super().resolve_command(ctx, args)
        self.commands.update(placeholders)
        try:
            return super().resolve_command(ctx, args)
        finally:
            for name in unloaded:
                self.commands.pop(name, None)

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """Print the help, listing lazy commands from the table rather than importing them."""
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False
