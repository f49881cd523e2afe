"""Data: the IDX reader and the named datasets."""

from sparana_cli.data.datasets import Dataset, load_dataset

__all__ = ["Dataset", "load_dataset"]
