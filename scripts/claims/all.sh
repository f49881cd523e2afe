#!/usr/bin/env bash
# The seed's claims, re-tested: runs claims 1-4 one after the other (one experiment process at a time),
# writes each table to $CLAIMS_OUT/claimN.md and each script's wall time to $CLAIMS_OUT/seconds.csv.
#
#   scripts/claims/all.sh [CLAIM...]     claims 1 2 3 4 by default (4: both forget methods);
#                                        "4seed" and "4default" run one method of claim 4
# Environment: see scripts/claims/lib.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source scripts/claims/lib.sh
claims=("$@")
[ ${#claims[@]} -gt 0 ] || claims=(1 2 3 4)

for claim in "${claims[@]}"; do
  case $claim in
    1) command=(scripts/claims/claim1_accuracy.sh) ;;
    2) command=(scripts/claims/claim2_attacks.sh) ;;
    3) command=(scripts/claims/claim3_shrink.sh) ;;
    4) command=(scripts/claims/claim4_forget.sh) ;;
    4seed) command=(scripts/claims/claim4_forget.sh seed) ;;
    4default) command=(scripts/claims/claim4_forget.sh default) ;;
    *) echo "error: unknown claim $claim (1, 2, 3, 4, 4seed, 4default)" >&2; exit 2 ;;
  esac
  start=$SECONDS
  "${command[@]}" > "$CLAIMS_OUT/claim$claim.md"
  echo "claim$claim,$((SECONDS - start))" >> "$CLAIMS_OUT/seconds.csv"
  echo "== claim $claim: $((SECONDS - start)) s; table in $CLAIMS_OUT/claim$claim.md" >&2
done
