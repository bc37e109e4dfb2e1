# Helpers of the redumd end-to-end tests (sourced; needs $redumd and $scen).
# Every wait is bounded; every redumd and SIPp process is killed on exit.
set -u
work=$(mktemp -d)
pids=()
passed=0
rpid=
port=
cleanup() {
  local p
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  local f
  echo "FAIL: $*"
  for f in "$work"/*.err "$work"/*.sipp; do
    [[ -f "$f" ]] || continue
    echo "--- $f (last 40 lines)"; tail -40 "$f"
  done
  echo "$passed passed, 1 failed"
  exit 1
}
ok() { passed=$((passed + 1)); echo "ok $passed: $* ($SECONDS s)"; }

# A free port on 127.0.0.1, below the ephemeral range (tests/common/free_ports.py).
free_port() {
  python3 "$(dirname "${BASH_SOURCE[0]}")/../common/free_ports.py"
}

# start_redumd NAME ARGS...: redumd in the background (stdout NAME.out,
# stderr NAME.err); sets rpid and port (its first udp listener).
start_redumd() {
  local n=$1; shift
  "$redumd" "$@" >"$work/$n.out" 2>"$work/$n.err" &
  rpid=$!; pids+=("$rpid")
  port=
  for _ in $(seq 150); do
    port=$(awk -F: '/^listening udp/{print $NF; exit}' "$work/$n.out")
    [[ -n "$port" ]] && return 0
    kill -0 "$rpid" 2>/dev/null || break
    sleep 0.1
  done
  fail "$n: redumd printed no udp listener"
}

# wait_log NAME EXTENDED-REGEX [TENTHS]: until the regex is in NAME.err.
wait_log() {
  for _ in $(seq "${3:-150}"); do
    grep -qE "$2" "$work/$1.err" && return 0
    sleep 0.1
  done
  fail "$1: no '$2' in redumd's log"
}

# wait_exit SECONDS: redumd's exit status in rc, or fail.
wait_exit() {
  for _ in $(seq $(($1 * 10))); do
    kill -0 "$rpid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$rpid" 2>/dev/null && fail "redumd still running $1 s after the signal"
  wait "$rpid"; rc=$?
}

# sipp_bg NAME ARGS...: SIPp against redumd's udp port, bounded by -timeout
# (pass -m); its pid in spid, its output in NAME.sipp.
sipp_bg() {
  local n=$1 sp; shift
  sp=$(free_port)
  sipp "127.0.0.1:$port" -i 127.0.0.1 -p "$sp" -timeout 30s \
    -timeout_error -nostdin -buff_size 4194304 "$@" >"$work/$n.sipp" 2>&1 &
  spid=$!; pids+=("$spid")
}

# sipp_run NAME ARGS...: the same in the foreground; fails on non-zero.
sipp_run() {
  local n=$1
  sipp_bg "$@"
  wait_pid "$spid" 40 || fail "$n: sipp exited $rc_pid"
}

# wait_pid PID SECONDS: waits, exit status in rc_pid; 1 if it did not end.
wait_pid() {
  for _ in $(seq $(($2 * 10))); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$1" 2>/dev/null; then rc_pid=timeout; return 1; fi
  wait "$1"; rc_pid=$?
  [[ $rc_pid -eq 0 ]]
}

# counter NAME KEY: the last value printed for KEY ("key value" lines).
counter() { awk -v k="$2" '$1==k {v=$2} END {print v}' "$work/$1.err"; }

# expect_counter NAME KEY VALUE
expect_counter() {
  local v; v=$(counter "$1" "$2")
  [[ "$v" == "$3" ]] || fail "$1: $2 is '$v', want $3"
}

# sipp_server NAME ARGS...: SIPp as a server on a free port of its own
# (in sport), bounded by -timeout; pid in spid, output in NAME.sipp.
sipp_server() {
  local n=$1; shift
  sport=$(free_port)
  sipp -i 127.0.0.1 -p "$sport" -timeout 30s -timeout_error -nostdin \
    -buff_size 4194304 "$@" >"$work/$n.sipp" 2>&1 &
  spid=$!; pids+=("$spid")
}

# finish: fails if any redumd log holds a sanitizer report, else prints the
# closing line.
finish() {
  local f
  for f in "$work"/*.err; do
    [[ -f "$f" ]] || continue
    if grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error: |WARNING: ThreadSanitizer" "$f"; then
      fail "sanitizer report in $(basename "$f")"
    fi
  done
  echo "$passed passed, 0 failed"
}
