"""A lottery-ticket experiment's table: tickets.csv (and the picture tickets.png) in its dense round's run folder.

One row per trained network: criterion, variant (dense, ticket, reinit, random), round, remaining
(share of weights left), test_accuracy, best_val_accuracy, early_stop_step (the step of the best
validation accuracy), seed and run (the folder). Both files are derived from the rounds' run folders,
written atomically after every round; the run folders' own results never change.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sparana_cli.errors import UserError
from sparana_cli.store.sweepfolder import CSV_FILE, write_csv

TICKETS_FILE, TICKETS_PLOT = "tickets.csv", "tickets.png"
COLUMNS = ["criterion", "variant", "round", "remaining", "test_accuracy", "best_val_accuracy", "early_stop_step", "seed",
           "run"]
NUMBERS = ("round", "remaining", "test_accuracy", "best_val_accuracy", "early_stop_step", "seed")


def write_tickets(folder: Path, rows: list[dict]) -> Path:
    path = Path(folder) / TICKETS_FILE
    write_csv(path, COLUMNS, rows)
    return path


def read_tickets(folder: Path) -> list[dict]:
    """The rows of folder/tickets.csv, numbers as floats (round, seed and early_stop_step as ints)."""
    path = Path(folder) / TICKETS_FILE
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        for r in rows:
            for key in NUMBERS:
                r[key] = float(r[key]) if key in ("remaining", "test_accuracy", "best_val_accuracy") else int(r[key])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{path}: not a tickets table (expected columns {', '.join(COLUMNS)})") from None
    return rows


def experiment_folders(folder: Path) -> list[Path]:
    """The ticket experiments a folder names: itself (it holds tickets.csv), or the runs its sweep.csv lists."""
    folder = Path(folder)
    if (folder / TICKETS_FILE).is_file():
        return [folder]
    if not (folder / CSV_FILE).is_file():
        raise UserError(f"{folder}: neither a ticket experiment ({TICKETS_FILE}) nor a sweep folder ({CSV_FILE})")
    with open(folder / CSV_FILE, newline="", encoding="utf-8") as f:
        runs = [Path(r["run"]) for r in csv.DictReader(f) if r.get("status") == "completed" and r.get("run")]
    found = [r for r in runs if (r / TICKETS_FILE).is_file()]
    if not found:
        raise UserError(f"{folder}: its sweep has no completed ticket experiment")
    return found
