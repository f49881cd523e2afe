"""P3 hook: forgetting a class end to end vs retraining without it (the comparator).

The `sparana forget` command comes with the forget issue. Until it is registered, the row says
so; once it is, this is where its measurement goes (time of `sparana forget` on a trained run
against `sparana train` on the data without the class, with Df/Dr accuracies of both).
"""

from __future__ import annotations

from bench.common import unavailable

NAME = "P3 forgetting vs retrain"


def forget_command_exists() -> bool:
    from sparana_cli.cli import main

    return "forget" in main.commands


def forgetting_rows() -> list[dict]:
    if not forget_command_exists():
        return [unavailable(NAME, "sparana forget not implemented")]
    return [unavailable(NAME, "sparana forget exists, but bench/forgetting.py does not measure it yet")]
