"""`sparana data fetch NAME` and `sparana data list`."""

from __future__ import annotations

import json

import click

from sparana_cli.cli.common import examples


@click.group("data", epilog=examples(
    "sparana data list",
    "sparana data fetch fashion-mnist", page="data.md"))
def data_command():
    """Download the standard data sets into $SPARANA_DATA (default ~/.cache/sparana) and list what is there."""


@data_command.command("fetch", epilog=examples("sparana data fetch mnist",
                                                 "sparana data fetch kmnist --mirror http://cache.example.org/kmnist/",
                                                 page="data.md"))
@click.argument("name", metavar="NAME")
@click.option("--mirror", metavar="URL", default=None,
              help="Fetch the same file names from this URL instead [default: $SPARANA_DATA_MIRROR, else the publisher].")
def fetch(name, mirror):
    """Download the data set NAME (mnist, fashion-mnist, kmnist, emnist-balanced), checking every file's checksum.

    A broken connection is resumed and retried; a file is only put in place once complete and
    verified. Afterwards `data.name: NAME` finds it with no data.path.
    """
    from sparana_cli.data.fetch import fetch_set
    from sparana_cli.data.home import data_home

    folder = fetch_set(name, data_home(), mirror=mirror, say=lambda line: click.echo(line, err=True))
    click.echo(f"{name}: ready in {folder}")


@data_command.command("list", epilog=examples("sparana data list", "sparana data list --json", page="data.md"))
@click.option("--json", "json_mode", is_flag=True, help="Print the table as JSON.")
def list_sets(json_mode):
    """Show which standard data sets are in $SPARANA_DATA, where, their size and checksum status."""
    from sparana_cli.data.fetch import list_sets as statuses
    from sparana_cli.data.home import data_home

    rows = statuses(data_home())
    if json_mode:
        click.echo(json.dumps([{"name": r.name, "folder": str(r.folder), "files": r.present, "expected": r.expected,
                                "bytes": r.size, "checksums": r.checksums} for r in rows], indent=1))
        return
    click.echo(f"{'name':<16} {'files':>5} {'size':>9}  {'checksums':<20} folder")
    for r in rows:
        size = f"{r.size / 2**20:.1f} MB" if r.present else "-"
        click.echo(f"{r.name:<16} {f'{r.present}/{r.expected}':>5} {size:>9}  {r.checksums:<20} {r.folder}")
