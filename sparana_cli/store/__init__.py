"""The run store: the only code that knows the run-folder layout (see README "Run folders").

  runs.py        reserving and finishing folders, model.h5 (dense and CSR) and metrics.h5, finding runs
  runstate.py    status.json and the writer's lock: running, completed, failed, interrupted, killed
  checkpoint.py  checkpoint.h5: everything a training run needs to continue exactly
  rewind.py      rewind.h5: the initial and step-k weights a lottery-ticket round rewinds to
  ticketfiles.py tickets.csv: a ticket experiment's table, in its dense round's folder
  reader.py      reading a run back (validated), with the dataset it was trained on
  record.py      run-folder names and RunRecord: what a run folder says about itself (read_run), no HDF5 to load
  runs_index.py  the runs index: a rebuildable SQLite cache of every finished folder's record, checked on each read
  listing.py     the `runs` table: rows filtered, sorted and grouped by sweep, from the index
  catalog.py     what a runs folder holds beyond the table: compare, diff, lineage, removal
"""
