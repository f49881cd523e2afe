"""The run store: the only code that knows the run-folder layout (see README "Run folders").

  runs.py        reserving and finishing folders, model.h5 (dense and CSR) and metrics.h5, finding runs
  runstate.py    status.json and the writer's lock: running, completed, failed, interrupted, killed
  checkpoint.py  checkpoint.h5: everything a training run needs to continue exactly
  reader.py      reading a run back (validated), with the dataset it was trained on
  catalog.py     what a runs folder holds: the `runs` table, compare, diff
"""
