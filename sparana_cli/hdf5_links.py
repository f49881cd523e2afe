"""HDF5 files read only for what they hold themselves: no external links, no virtual datasets.

An external link, or a virtual dataset's mapping, makes a file take objects from other files: a
model.h5 or a data file would then be read from wherever it points, and a virtual dataset whose
source file is missing reads as its fill value (zeros) without a word. Every HDF5 file sparana reads
(run files, checkpoints, HDF5 data sets) is checked first and refused with one line naming the object.
"""

from __future__ import annotations

from pathlib import Path

import h5py

from sparana_cli.errors import UserError
from sparana_cli.signals import uninterrupted


def check_self_contained(f: h5py.File, path: Path) -> None:
    """A UserError naming the first external link or virtual dataset in the open file (links are not followed)."""

    def link(name, found):  # a value other than None stops the visit (raising inside h5py's visit is not safe)
        return f"/{name} is an external link to {found.filename}:{found.path}" \
            if isinstance(found, h5py.ExternalLink) else None

    def dataset(name, node):
        if isinstance(node, h5py.Dataset) and node.is_virtual:
            sources = sorted({source.file_name for source in node.virtual_sources()})
            return f"/{name} is a virtual dataset whose data live in {', '.join(sources)[:200]}"
        return None

    problem = visit_items(f, link, links=True) or visit_items(f, dataset)
    if problem:
        raise UserError(f"{path}: {problem}; sparana reads only what the file itself holds")


@uninterrupted
def visit_items(group: h5py.Group, callback, *, links: bool = False):
    """group.visititems(callback) (visititems_links with `links`); a signal during the visit acts when it ends.

    A KeyboardInterrupt raised inside h5py's visit callback leaves HDF5's iteration half-unwound: h5py then
    raises SystemError, or the process crashes at exit.
    """
    return (group.visititems_links if links else group.visititems)(callback)
