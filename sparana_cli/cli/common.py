"""What every command shares: one-line errors with exit status 2, --runs-dir and --json."""

from __future__ import annotations

import functools
import sys

import click

from sparana_cli import runs
from sparana_cli.errors import UserError
from sparana_cli.ui import Console


class SparanaGroup(click.Group):
    """Reports every user error as one line with exit status 2, and an interrupt with 130."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
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
        except (click.Abort, KeyboardInterrupt):
            click.echo("interrupted", err=True)
            code = 130
        if standalone_mode:
            sys.exit(code or 0)
        return code


def common_options(command):
    """--runs-dir and --json, taken by every command."""

    @click.option("--runs-dir", "runs_dir", metavar="DIR", default=None,
                  help="Folder of run folders [default: $SPARANA_RUNS, else ./runs].")
    @click.option("--json", "json_mode", is_flag=True,
                  help="Print a JSON summary on stdout; human text goes to stderr.")
    @functools.wraps(command)
    def wrapper(*args, runs_dir, json_mode, **kwargs):
        return command(*args, root=runs.runs_root(runs_dir), console=Console(json_mode), **kwargs)

    return wrapper
