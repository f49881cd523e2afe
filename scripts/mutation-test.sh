#!/usr/bin/env bash
# Mutation testing (mutmut 2.x) of chosen modules against their own fast test files; not part of CI.
#
#   pip install 'mutmut<3'
#   scripts/mutation-test.sh [MODULE:TESTS]...     # default: the three pairs below
#
# mutmut 2 rewrites the files it mutates, so it runs in a throwaway copy of the committed tree
# (git archive HEAD). Each MODULE is mutated against TESTS only (a test file, or several separated by
# commas): a bounded, repeatable score, not the whole suite's. Any failing exit of pytest counts as a kill:
# mutmut 2 takes only status 1 as failing, so a mutant that breaks the module's import (pytest's status 2,
# a collection error) would otherwise count as surviving. Prints mutmut's results and one line
# per module: killed / total, slow kills (mutmut's ok_suspicious) counted as killed (SHOW_SURVIVORS=1: and
# every surviving mutant's diff). PYTHON (default: python3) must have sparana's test dependencies.
set -euo pipefail
PYTHON=${PYTHON:-python3}
MUTMUT=${MUTMUT:-mutmut}
pairs=("$@")
if [ ${#pairs[@]} -eq 0 ]; then
  pairs=("sparana_cli/engine/optimizers.py:tests/test_optimizers.py"
         "sparana_cli/analysis/shrink.py:tests/test_shrink.py"
         "sparana_cli/store/runstate.py:tests/test_resume.py")
fi
root=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git -C "$root" archive HEAD | tar -x -C "$work"
cd "$work"
for pair in "${pairs[@]}"; do
  module=${pair%%:*}; tests=${pair#*:}
  echo "== $module against ${tests//,/ } ($(date -u +%H:%M:%S))" >&2
  rm -f .mutmut-cache
  "$MUTMUT" run --paths-to-mutate "$module" --tests-dir tests --no-progress \
    --runner "sh -c '$PYTHON -m pytest -x -q -p no:cacheprovider ${tests//,/ } || exit 1'" >/dev/null || true  # nonzero: survivors
  "$MUTMUT" results || true
  [ -n "${SHOW_SURVIVORS:-}" ] && { "$MUTMUT" show all || true; }
  "$PYTHON" - "$module" <<'PY'
import sqlite3, sys
rows = dict(sqlite3.connect(".mutmut-cache").execute("select status, count(*) from Mutant group by status").fetchall())
total = sum(rows.values())
killed = rows.get("ok_killed", 0) + rows.get("ok_suspicious", 0)  # suspicious: killed, but slowly (mutmut's "ok")
print(f"{sys.argv[1]}: {killed} of {total} mutants killed ({rows})")
PY
done
