"""Data: readers for IDX, NPZ, CSV and HDF5, the standard sets and their download, the seeded split."""

from sparana_cli.data.datasets import Dataset, check_source, load_dataset

__all__ = ["Dataset", "check_source", "load_dataset"]
