"""Sparana's benchmark: `python -m bench` prints one table of figures measured side by side.

Every section returns rows, dicts with these keys (all strings except `ratio`):
  row        what is measured, e.g. "P1 784-300-100-10 SGD b128"
  measure    the quantity, e.g. "epoch time", "GFLOP/s", "peak RSS"
  sparana    Sparana's figure (median and spread over repeats, where repeated)
  reference  what it is compared with (PyTorch, the matmul peak, the per-sample method, ...)
  ratio      sparana / reference as a float (None when there is none)
  target     the issue's target for the ratio, e.g. "<= 0.8" (empty when there is none)
  verdict    "met", "missed", "info", or "not available: <why>"
bench/inference.py (P4) turns its own comparisons into such rows with `p4_rows()`.
"""
