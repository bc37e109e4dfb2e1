#!/usr/bin/env bash
# redumd answers calls from SIPp and stops cleanly on SIGTERM:
#   redumd_sipp.sh [--valgrind] REDUMD
# With --valgrind redumd runs under valgrind's memcheck, which must find no
# error and no leak (definite, indirect or possible) after the whole
# start-run-shutdown.
# 1. redumd on udp:127.0.0.1:0 (the kernel picks the port; redumd prints it)
# 2. SIPp's uac places 50 calls (INVITE/180/200/ACK/BYE): all must succeed
# 3. SIGTERM: redumd must exit 0 within 30 s, and its counters must show
#    exactly the 50 INVITEs and 50 BYEs; a second run checks OPTIONS.
set -u
wrap=()
if [[ "${1:-}" == "--valgrind" ]]; then
  wrap=(valgrind -q --leak-check=full --show-leak-kinds=definite,indirect,possible
        --errors-for-leak-kinds=definite,indirect,possible --error-exitcode=42)
  shift
fi
redumd=$1
work=$(mktemp -d)
trap 'kill -9 $pid 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; echo "--- redumd stderr"; cat "$work/err"; exit 1; }

"${wrap[@]}" "$redumd" --listen udp:127.0.0.1:0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 300); do
  port=$(awk -F: '/^listening udp/{print $NF}' "$work/out")
  [[ -n "$port" ]] && break
  sleep 0.1
done
[[ -n "$port" ]] || fail "redumd printed no udp listener"

# a free port for SIPp (tests/common/free_ports.py)
sport=$(python3 "$(dirname "${BASH_SOURCE[0]}")/../common/free_ports.py")
timeout 60 sipp "127.0.0.1:$port" -sn uac -i 127.0.0.1 -p "$sport" -r 50 -m 50 \
  -timeout 40s -timeout_error -nostdin -buff_size 4194304 >"$work/sipp.out" 2>&1
rc=$?
[[ $rc -eq 0 ]] || fail "sipp uac exited $rc"

kill -TERM $pid
for _ in $(seq 300); do kill -0 $pid 2>/dev/null || break; sleep 0.1; done
kill -0 $pid 2>/dev/null && fail "redumd still running 30 s after SIGTERM"
wait $pid
rc=$?
[[ $rc -eq 0 ]] || fail "redumd exited $rc after SIGTERM"

count() { awk -v k="$1" '$1==k {print $2}' "$work/err"; }
[[ "$(count req_in.INVITE)" == 50 ]] || fail "req_in.INVITE is '$(count req_in.INVITE)', want 50"
[[ "$(count req_in.BYE)" == 50 ]] || fail "req_in.BYE is '$(count req_in.BYE)', want 50"
[[ "$(count acks)" == 50 ]] || fail "acks is '$(count acks)', want 50"
grep -q "redumd: stopped" "$work/err" || fail "no 'stopped' line"
echo "1 passed, 0 failed"
