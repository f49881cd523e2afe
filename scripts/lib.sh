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

# train_grid SPEC KEY1 "VALUES1" KEY2 "VALUES2" "FIELDS" [ARG...]: train SPEC once per pair of values
# (KEY1=v1 KEY2=v2 ARG...), one CSV row each on stdout: v1,v2,status,FIELDS of the --json summary;
# a value holding a comma is quoted. An interrupted run (exit 130) stops the sweep with 130.
train_grid() {
  local spec=$1 key1=$2 values1=$3 key2=$4 values2=$5 fields=$6 v1 v2 summary code
  shift 6
  for v1 in $values1; do
    for v2 in $values2; do
      summary=$("${sparana[@]}" train "$spec" "$key1=$v1" "$key2=$v2" "$@" --json 2>/dev/null)
      code=$?
      echo "$(csv_value "$v1"),$(csv_value "$v2"),$(exit_status "$code"),$(printf '%s' "$summary" | json_fields $fields)"
      if [ "$code" -eq 130 ]; then exit 130; fi  # interrupted: stop the sweep too
    done
  done
}

# csv_value VALUE: VALUE as a CSV field (quoted when it holds a comma or a quote).
csv_value() {
  case $1 in *[,\"]*) printf '"%s"' "${1//\"/\"\"}" ;; *) printf '%s' "$1" ;; esac
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
