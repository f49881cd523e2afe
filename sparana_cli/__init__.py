"""Sparana: sparse parameter analysis of small fully connected ReLU networks."""

__version__ = "0.1.0"
