"""How each sparana command runs as one point of `sparana sweep`: the table of sweepable commands.

It lives on the CLI side because it speaks in command-line options (class=3 -> --class 3); the
executor (sparana_cli/sweeps.py) only runs the argv it is given.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Callable

import click

from sparana_cli.errors import UserError
from sparana_cli.sweeps import SweepCommand
from sparana_cli.yamlfile import parse_yaml


def _train_argv(target: str, overrides: list[str]) -> list[str]:
    return ["train", target, *overrides]


def _ticket_argv(target: str, overrides: list[str]) -> list[str]:
    return ["ticket", target, *overrides]


def _ticket_check(target: str, overrides: list[str], root: Path) -> str:
    from sparana_cli.phases.ticket import check_spec
    from sparana_cli.spec import load_spec

    name = _train_check(target, overrides, root)
    check_spec(load_spec(target, overrides))
    return name


def _train_check(target: str, overrides: list[str], root: Path) -> str:
    """The point's spec is valid, its data files are there, its device exists and its model could fit (nothing is read)."""
    from sparana_cli.data import check_source
    from sparana_cli.engine.backend import resolve_backend
    from sparana_cli.fitting import check_memory
    from sparana_cli.spec import load_spec

    spec = load_spec(target, overrides)
    check_source(spec.data)
    check_memory(spec, [], None, resolve_backend(spec.device))  # a network or batch too big for any data
    return spec.name


# -- commands on a run: KEY=VALUE items become options (class=3 -> --class 3) ------------------------

RUN_OPTION_RESERVED = ("run", "runs_dir", "json_mode")  # the sweep sets these itself


def _click_command(command: str) -> click.Command:
    """The click command `sparana COMMAND` (imported only when a sweep needs it)."""
    return getattr(importlib.import_module(f"sparana_cli.cli.{command}"), command)


def option_args(command: str, items: list[str]) -> list[str]:
    """KEY=VALUE items as options of `sparana COMMAND`: class=3 -> --class 3, layers=[1,2] -> --layers 1,2,
    shrink=true -> --shrink, shrink=false -> --no-shrink. Values are read as YAML; lists are joined by commas."""
    params = [p for p in _click_command(command).params
              if isinstance(p, click.Option) and p.name not in RUN_OPTION_RESERVED]
    args = []
    for item in items:
        key, _, text = item.partition("=")
        wanted = "--" + key.strip().replace("_", "-")
        param = next((p for p in params if wanted in p.opts or wanted in p.secondary_opts), None)
        if param is None:
            names = ", ".join(p.opts[0].lstrip("-") for p in params)
            raise UserError(f"axis {key}: not an option of sparana {command} (sweepable: {names})")
        try:
            value = parse_yaml(text, f"axis {key}")
        except UserError:
            value = text
        if param.is_flag:
            if not isinstance(value, bool):
                raise UserError(f"axis {key}: expected true or false, got {text!r}")
            if value or param.secondary_opts:
                args.append(param.opts[0] if value else param.secondary_opts[0])
        elif isinstance(value, list):
            args += [param.opts[0], ",".join(map(str, value))]
        else:
            args += [param.opts[0], text]
    return args


def _run_command(command: str) -> tuple[Callable, Callable]:
    """argv and check of a command that starts from a run: `sparana COMMAND --run TARGET --option value ...`."""

    def argv(target: str, items: list[str]) -> list[str]:
        return [command, "--run", target, *option_args(command, items)]

    def check(target: str, items: list[str], root: Path) -> str:
        from sparana_cli.store import runs

        args = option_args(command, items)
        try:
            params = _click_command(command).make_context(command, [*args, "--run", target]).params
        except click.ClickException as err:
            raise UserError(f"sparana {command} {' '.join(args)}: {err.format_message()}") from None
        run_dir = runs.resolve_run(root, target)
        options = {k: v for k, v in params.items() if k not in (*RUN_OPTION_RESERVED, "device")}
        return _PHASE_CHECKS[command](run_dir, options)

    return argv, check


def _prune_check(run_dir: Path, options: dict) -> str:
    from sparana_cli.phases.prune import check_options

    return check_options(run_dir, options)


def _forget_check(run_dir: Path, options: dict) -> str:
    from sparana_cli.phases.forget import check_options

    return check_options(run_dir, options)


_PHASE_CHECKS = {"prune": _prune_check, "forget": _forget_check}


# --command NAME -> how it runs; a command joins sweeps with one entry here.
COMMANDS: dict[str, SweepCommand] = {
    "train": SweepCommand(_train_argv, _train_check, ("test_accuracy", "val_accuracy", "train_loss", "seconds", "epochs")),
    "ticket": SweepCommand(_ticket_argv, _ticket_check, ("dense_accuracy", "ticket_accuracy", "remaining", "seconds"),
                           ("ticket_accuracy",)),
    "prune": SweepCommand(*_run_command("prune"), ("accuracy_before", "accuracy_after", "seconds"), ("accuracy_after",)),
    "forget": SweepCommand(*_run_command("forget"), ("df_before", "df_after", "dr_before", "dr_after", "probe_recall",
                                                     "removed_fraction", "stop", "seconds"),
                         ("df_after", "dr_after", "probe_recall")),
}


def sweep_command(name: str) -> SweepCommand:
    if name not in COMMANDS:
        raise UserError(f"--command {name}: not a command sweeps can run (choose from {', '.join(sorted(COMMANDS))})")
    return COMMANDS[name]
