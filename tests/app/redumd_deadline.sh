#!/usr/bin/env bash
# redumd's shutdown deadline and forced shutdown, end to end:
#   redumd_deadline.sh REDUMD SCENARIO_DIR
# 1. --give-up-ms 1000, a SIPp caller that never answers the BYE: SIGTERM
#    -> redumd exits 3 (a usage force-ended at the deadline, named in the
#    report), long before the BYE's own 32 s timeout.
# 2. --give-up-ms 0 (wait forever), the same caller: SIGTERM, then a second
#    SIGTERM -> forced shutdown -> exit 3.
# Each redumd run has a watchdog: not gone 10 s after the signal = fail.
set -u
redumd=$1 scen=$2
work=$(mktemp -d)
pids=()
trap 'kill -9 "${pids[@]}" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; echo "--- redumd stderr"; cat "$work/err"; echo "0 passed, 1 failed"; exit 1; }
free_port() { python3 "$(dirname "${BASH_SOURCE[0]}")/../common/free_ports.py"; }   # tests/common/free_ports.py

start_call() {  # start_call GIVE_UP_MS: redumd + one SIPp call held, BYE ignored
  "$redumd" --listen udp:127.0.0.1:0 --give-up-ms "$1" >"$work/out" 2>"$work/err" &
  rpid=$!; pids+=($rpid)
  port=
  for _ in $(seq 100); do
    port=$(awk -F: '/^listening udp/{print $NF}' "$work/out"); [[ -n "$port" ]] && break; sleep 0.1
  done
  [[ -n "$port" ]] || fail "redumd printed no udp listener"
  sipp "127.0.0.1:$port" -sf "$scen/uac_ignore_bye.xml" -i 127.0.0.1 -p "$(free_port)" \
    -m 1 -timeout 30s -nostdin -buff_size 4194304 >/dev/null 2>&1 &
  spid=$!; pids+=($spid)
  for _ in $(seq 100); do  # until redumd has the call connected
    kill -USR1 $rpid; sleep 0.1
    grep -q "acks 1" "$work/err" && return 0
  done
  fail "the call was never established"
}

wait_exit() {  # wait_exit: redumd's exit status, or fail after 10 s
  for _ in $(seq 100); do kill -0 $rpid 2>/dev/null || break; sleep 0.1; done
  kill -0 $rpid 2>/dev/null && fail "redumd still running 10 s after the signal"
  wait $rpid
}

start_call 1000
kill -TERM $rpid
wait_exit; rc=$?
[[ $rc -eq 3 ]] || fail "deadline: redumd exited $rc, want 3"
grep -q "invite-server" "$work/err" || fail "deadline: the report does not name the force-ended call"
kill $spid 2>/dev/null

start_call 0
kill -TERM $rpid
sleep 1
kill -0 $rpid 2>/dev/null || fail "no deadline: redumd ended before the BYE was answered"
kill -TERM $rpid
wait_exit; rc=$?
[[ $rc -eq 3 ]] || fail "forced: redumd exited $rc, want 3"
kill $spid 2>/dev/null
echo "2 passed, 0 failed"
