"""`sparana spec`."""

from __future__ import annotations

from pathlib import Path

import click

from sparana_cli.cli.common import examples


@click.command("spec", epilog=examples(
    "sparana spec",
    "sparana spec configs/mnist.yaml train.epochs=3", page="training.md"))
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
