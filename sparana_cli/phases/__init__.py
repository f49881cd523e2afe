"""Phases: each loads its inputs, computes, and writes a run folder (or reports on one)."""
