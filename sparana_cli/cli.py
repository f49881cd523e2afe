"""The `sparana` command line: parse, load the spec, call a phase, print a summary. Nothing else."""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import click

from sparana_cli import __version__, runs
from sparana_cli.errors import UserError
from sparana_cli.ui import Console, percent, table


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


@click.group(cls=SparanaGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sparana")
def main():
    """Sparana: train small ReLU networks, prune them by MAAV, make them forget a class, and measure it.

    Each command reads a YAML spec or a run folder and writes a new run folder
    (runs/<name>-<time>/) holding spec.yaml, model.h5 and metrics.h5.
    """


@main.command()
@click.argument("spec_file", metavar="SPEC", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", metavar="[KEY=VALUE]...", nargs=-1)
@common_options
def train(spec_file, overrides, root, console):
    """Train the network SPEC describes and write a run folder.

    KEY=VALUE items override the spec, values read as YAML, e.g.

        sparana train configs/mnist.yaml train.epochs=3 model.hidden=[300,100] seed=4
    """
    from sparana_cli.phases.train import train as run_train
    from sparana_cli.spec import load_spec

    spec = load_spec(spec_file, overrides)
    summary = run_train(spec, root=root, console=console)
    console.result(summary, (
        f"test accuracy {percent(summary['test_accuracy'])} (validation {percent(summary['val_accuracy'])}) "
        f"after {summary['epochs']} epochs in {summary['seconds']:.1f} s ({summary['seconds_per_epoch']:.2f} s/epoch)\n"
        f"run: {summary['run']}"
    ))


@main.command()
@click.argument("run", required=False)
@click.option("--device", type=click.Choice(["auto", "cpu", "gpu"]), default="auto", show_default=True,
              help="Where to run the network.")
@common_options
def evaluate(run, device, root, console):
    """Test accuracy, per-class accuracy, confusion matrix and parameter counts of RUN.

    RUN is a run folder or its name in the runs folder [default: the newest finished run].
    """
    from sparana_cli.phases.evaluate import evaluate as run_evaluate

    report = run_evaluate(runs.resolve_run(root, run), console=console, device=device)
    console.result(report, _evaluation_text(report))


def _evaluation_text(report: dict) -> str:
    k = len(report["per_class_accuracy"])
    params = report["parameters"]
    layer_rows = [[r["layer"], "x".join(map(str, r["shape"])), r["weights"], r["nonzero"],
                   f"{100 * (1 - r['nonzero'] / r['weights']):.2f}%", r["biases"]] for r in params["layers"]]
    return "\n".join([
        f"run: {report['run']}  ({report['phase']}{', parent ' + report['parent'] if report['parent'] else ''})",
        f"test accuracy {percent(report['accuracy'])} on {report['test_samples']} {report['dataset']} test images",
        "",
        table(["class", "accuracy"], [[c, percent(a)] for c, a in enumerate(report["per_class_accuracy"])]),
        "",
        "confusion matrix (rows: true class, columns: predicted)",
        table(["", *map(str, range(k))], [[c, *row] for c, row in enumerate(report["confusion"])]),
        "",
        table(["layer", "shape", "weights", "nonzero", "sparsity", "biases"], layer_rows),
        f"parameters: {params['total']} total, {params['nonzero']} nonzero",
    ])


@main.command("spec")
@click.argument("spec_file", metavar="[SPEC]", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.argument("overrides", metavar="[KEY=VALUE]...", nargs=-1)
def show_spec(spec_file, overrides):
    """Print SPEC fully resolved (defaults and overrides applied), or every key with its doc."""
    from sparana_cli.spec import describe, load_spec, spec_from_mapping, spec_to_yaml

    if spec_file is not None and "=" in spec_file.name and not spec_file.exists():
        spec_file, overrides = None, (str(spec_file), *overrides)
    if spec_file is None and not overrides:
        click.echo("\n".join(describe()))
        return
    spec = load_spec(spec_file, overrides) if spec_file else spec_from_mapping({}, "defaults", overrides)
    click.echo(spec_to_yaml(spec), nl=False)
