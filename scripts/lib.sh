# Shared by the batch scripts: source "$(dirname "$0")/lib.sh".

# json_fields KEY...: read a sparana --json summary on stdin, print the keys' values joined by commas
# (empty fields when the command printed no JSON, e.g. after bad input).
json_fields() {
  "${PYTHON:-python3}" -c 'import json, sys
try:
    s = json.load(sys.stdin)
except ValueError:
    s = {}
print(",".join(str(s.get(k, "")) for k in sys.argv[1:]))' "$@"
}

# exit_status CODE: the CSV status word for a sparana exit status.
exit_status() {
  case $1 in 0) echo completed ;; 2) echo refused ;; 3) echo failed ;; 130) echo interrupted ;; *) echo error ;; esac
}

# run_out_extra DEFAULT_OUT "$@": parse "RUN [OUT.csv] [-- EXTRA OPTIONS...]" into $run, $out and the
# array extra; with no arguments or -h, print the calling script's header comment (lines 2..$usage_lines).
run_out_extra() {
  local default_out=$1
  shift
  if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    sed -n "2,${usage_lines:-15}p" "$0" | sed 's/^# \{0,1\}//'
    exit 2
  fi
  run=$1
  shift
  out=$default_out
  if [ $# -gt 0 ] && [ "$1" != "--" ]; then out=$1; shift; fi
  if [ "${1:-}" = "--" ]; then shift; fi
  extra=("$@")
  [ -d "$run" ] || { echo "error: $run: no such run folder" >&2; exit 2; }
}
