"""What every command shares: one-line errors with exit status 2, --runs-dir and --json."""

from __future__ import annotations

import functools
import importlib
import os
import sys
from pathlib import Path

import click

from sparana_cli.errors import RunStopped, UserError, is_full_disk
from sparana_cli.profile import PROFILE, section
from sparana_cli.signals import end_process, interrupting, signals_received, start_command
from sparana_cli.ui import Console


class LazyCommands(dict):
    """{name: command}, holding "module:attribute" for each command until it is first looked up, then the command."""

    def __getitem__(self, name):
        value = super().__getitem__(name)
        if isinstance(value, str):
            module, attribute = value.split(":")
            value = getattr(importlib.import_module(module), attribute)
            super().__setitem__(name, value)
        return value

    def get(self, name, default=None):
        return self[name] if name in self else default

    def values(self):
        return [self[name] for name in self]

    def items(self):
        return [(name, self[name]) for name in self]


class SparanaGroup(click.Group):
    """Reports every user error as one line with exit status 2, and an interrupt with 130.

    Exit statuses: 0 done, 2 bad input, 3 a run failed (e.g. its loss became NaN), 130 interrupted
    (SIGINT or SIGTERM, which is handled like SIGINT).

    `lazy_commands` ({name: "module:attribute"}) are imported only when looked up, so that a
    command (or its --help) loads its own module and no other; `summaries` ({name: the first
    paragraph of its help}) let the group's --help list them without importing any. With profiling
    on, the breakdown is printed on stderr when the command ends, however it ends.
    """

    def __init__(self, *args, lazy_commands: dict[str, str] | None = None, summaries: dict[str, str] | None = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands({**(lazy_commands or {}), **self.commands})
        self.summaries = summaries or {}

    def format_commands(self, ctx, formatter):
        """The Commands section of --help: each command's one-line help, from `summaries` where it has one."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(map(len, names))
        rows = []
        for name in names:
            if name in self.summaries:
                rows.append((name, summary_line(self.summaries[name], limit)))
            elif (command := self.get_command(ctx, name)) is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        from sparana_cli.store import provenance  # standard library only: the argv every run records

        start_command(whole_process=args is None)  # the process is the command: a late signal is counted, not fatal
        provenance.record_command(["sparana", *(sys.argv[1:] if args is None else args)])
        try:
            code = self._run(args, prog_name, complete_var, **extra)
        finally:
            if PROFILE.enabled:
                PROFILE.disable()
                click.echo(PROFILE.report(), err=True)
        if args is None:
            end_process()  # first: a signal from here on is ignored, one before it is counted below
        if signals_received() and not code:  # a signal the command could no longer act on: it finished its work
            click.echo("interrupted: the signal came as the command was finishing; what it wrote is complete", err=True)
            code = 130
        if standalone_mode:
            sys.exit(code or 0)
        return code

    def _run(self, args, prog_name, complete_var, **extra) -> int:
        with interrupting() as signals:
            return self._report(signals, args, prog_name, complete_var, **extra)

    def _report(self, signals, args, prog_name, complete_var, **extra) -> int:
        """Run the command; its exit status, with the one line that says why it is not 0 printed on stderr."""
        try:
            try:
                _refuse_undecodable(sys.argv[1:] if args is None else args)
                code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            finally:
                signals.quiet()  # from here on a signal is only counted: the reporting below is never cut short
        except click.UsageError as err:
            where = f" (see '{err.ctx.command_path} --help')" if err.ctx else ""
            click.echo(f"error: {err.format_message()}{where}", err=True)
            code = 2
        except click.ClickException as err:
            err.show()
            code = err.exit_code
        except UserError as err:
            click.echo(f"error: {err}", err=True)
            code = 2
        except RunStopped as err:
            click.echo(f"{err.prefix}: {err}", err=True)
            code = err.exit_code
        except OSError as err:
            if not is_full_disk(err):
                raise
            click.echo(f"error: {getattr(err, 'filename', None) or 'a file'}: no space left on the device "
                       f"({os.strerror(err.errno)}); free some space and run the command again", err=True)
            code = 3
        except (click.Abort, KeyboardInterrupt):
            click.echo("interrupted", err=True)
            code = 130
        return code


def examples(*commands: str, page: str) -> str:
    """A command's help epilog: real example command lines, and the docs page that is its reference."""
    lines = "\n".join(f"  {command}" for command in commands)
    return f"\b\nExamples:\n{lines}\n\nReference: docs/{page} (in the Sparana repository)."


def _refuse_undecodable(args) -> None:
    """A UserError for an argument that is not UTF-8 text (Python keeps such bytes as surrogates that nothing can write)."""
    for i, arg in enumerate(map(str, args), 1):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            shown = arg.encode("utf-8", "surrogateescape").decode("ascii", "backslashreplace")
            raise UserError(f"argument {i} ({shown}) is not valid UTF-8; give names and values as UTF-8 text") from None


def summary_line(summary: str, limit: int) -> str:
    """A command's help line in a group's --help, as Click would cut it from a help that begins with `summary`."""
    return click.Command("", help=summary).get_short_help_str(limit)


def common_options(command):
    """--runs-dir and --json, taken by every command (a subcommand inherits its group's)."""

    @click.option("--runs-dir", "runs_dir", metavar="DIR", default=None,
                  help="Folder of run folders [default: $SPARANA_RUNS, else ./runs].")
    @click.option("--json", "json_mode", is_flag=True,
                  help="Print a JSON summary on stdout; human text goes to stderr.")
    @functools.wraps(command)
    def wrapper(*args, runs_dir, json_mode, **kwargs):
        ctx = click.get_current_context(silent=True)
        group = ctx.parent.params if ctx is not None and ctx.parent is not None else {}
        runs_dir = runs_dir or group.get("runs_dir")
        json_mode = json_mode or bool(group.get("json_mode"))
        from sparana_cli.memory import return_large_blocks
        from sparana_cli.store.names import runs_root

        return_large_blocks()
        with section("compute (the command's own work)"):
            return command(*args, root=runs_root(runs_dir), console=Console(json_mode), **kwargs)

    return wrapper


def pick_run(root: Path, run: str | None, console: Console) -> Path:
    """RUN as given (a folder or its name in root); none: the newest finished train run, said on stderr."""
    from sparana_cli.store import runs

    folder = runs.resolve_run(root, run)
    if run is None:
        console.warn(f"run: {folder.name} (the newest finished {runs.DEFAULT_PHASE} run not made by a sweep, if any; "
                     "name another to use it)")
    return folder
