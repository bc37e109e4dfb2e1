#!/usr/bin/env bash
# redumd's /metrics and /status over real sockets (docs/METRICS.md):
#   metrics_redumd.sh REDUMD APP_SCENARIOS DUM_SCENARIOS
# 1. redumd --listen udp:127.0.0.1:0 --metrics 127.0.0.1:0; both bound
#    addresses are read from its output (the kernel picks the ports)
# 2. scrape /metrics (validated by the reference parser and stricter
#    rules: metrics_check.py) and /status (one JSON object); 404 and 405
# 3. SIPp places N calls (scraped and validated all along), M OPTIONS and
#    K MESSAGEs; scrape again: the counters must have moved by exactly
#    those amounts and every usage must be gone
# 4. SIGTERM: redumd must exit 0 within 30 s
set -u
redumd=$1
app_scen=$2
dum_scen=$3
here=$(cd "$(dirname "$0")" && pwd)
check=("/usr/bin/python3" "$here/metrics_check.py")
N=30 M=5 K=4
work=$(mktemp -d)
pid=
trap '[[ -n "$pid" ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; echo "--- redumd stderr"; cat "$work/err"; exit 1; }

# a required test tool (tools/install-deps --test): fail, never skip
/usr/bin/python3 -c 'import prometheus_client' ||
  fail "python3-prometheus-client is not installed (tools/install-deps --test)"

"$redumd" --listen udp:127.0.0.1:0 --metrics 127.0.0.1:0 \
  >"$work/out" 2>"$work/err" &
pid=$!
port= http=
for _ in $(seq 300); do
  port=$(awk -F: '/^listening udp:/{print $NF}' "$work/out")
  http=$(awk '/^metrics http:/{sub(/^metrics http:/, ""); print}' "$work/err")
  [[ -n "$port" && -n "$http" ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[[ -n "$port" ]] || fail "redumd printed no udp listener"
[[ -n "$http" ]] || fail "redumd printed no 'metrics http:ADDR:PORT' line"

"${check[@]}" scrape "$http" "$work/a.json" || fail "first scrape"
"${check[@]}" status "$http" "$port" running || fail "/status"
"${check[@]}" errors "$http" || fail "404/405"

# a free port for SIPp (tests/common/free_ports.py)
free_port() {
  /usr/bin/python3 "$(dirname "${BASH_SOURCE[0]}")/../common/free_ports.py"
}
sipp_run() {   # COUNT SCENARIO-ARGS...
  local n=$1; shift
  timeout 60 sipp "127.0.0.1:$port" "$@" -i 127.0.0.1 -p "$(free_port)" \
    -r 20 -m "$n" -timeout 40s -timeout_error -nostdin -buff_size 4194304 \
    >"$work/sipp.out" 2>&1
}
# the calls, scraped all along (the metrics thread reads the stack's and
# DUM's counters while they move: TSan watches this in its build)
sipp_run $N -sn uac &
spid=$!
"${check[@]}" watch "$http" "$spid" || fail "scrapes during the calls"
wait "$spid"
rc=$?
[[ $rc -eq 0 ]] || fail "sipp uac (calls) exited $rc"
sipp_run $M -sf "$app_scen/metrics_options.xml" || fail "sipp OPTIONS exited $?"
sipp_run $K -sf "$dum_scen/msg_uac.xml" || fail "sipp MESSAGE exited $?"

# the last BYE's usage ends on the DUM thread just after its 200: wait
# (bounded) until every usage is gone, then check everything at once
for _ in $(seq 100); do
  "${check[@]}" scrape "$http" "$work/b.json" || fail "second scrape"
  "${check[@]}" check "$work/a.json" "$work/b.json" 'redumd_usages_alive=0' \
    >/dev/null && break
  sleep 0.1
done
req() { echo "redumd_sip_requests_received_total{method=\"$1\"}=$2"; }
resp() { echo "redumd_sip_responses_sent_total{class=\"$1\"}=$2"; }
"${check[@]}" check "$work/a.json" "$work/b.json" \
  'redumd_usages_alive=0' \
  'redumd_dum_dialogs=0' \
  "$(req INVITE +$N)" "$(req ACK +$N)" "$(req BYE +$N)" \
  "$(req OPTIONS +$M)" "$(req MESSAGE +$K)" "$(req REGISTER +0)" \
  "$(resp 2xx +$((2 * N + M + K)))" "$(resp 1xx +0..$((2 * N)))" \
  "$(resp 3xx +0)" "$(resp 4xx +0)" "$(resp 5xx +0)" \
  'redumd_sip_requests_sent_total{method="BYE"}=+0' \
  "redumd_stack_acks_total=+$N" \
  'redumd_stack_unclaimed_total=+0' \
  'redumd_stack_busy_503_total=+0' \
  "redumd_usages_created_total{type=\"invite-server\"}=+$N" \
  'redumd_usages_created_total{type="invite-client"}=+0' \
  'redumd_usages{type="invite-server",state="connected"}=0' \
  'redumd_fifo_rejected_full_total{fifo="stack_cmd"}=+0' \
  'redumd_fifo_rejected_closed_total{fifo="stack_cmd"}=+0' \
  'redumd_fifo_depth{fifo="dum_inbound"}=0' \
  'redumd_dum_commands_rejected_total=+0' \
  'redumd_shutdown_phase=0' \
  'redumd_shutdown_stage{phase="running",mode="none"}=0' \
  'redumd_metrics_requests_total{path="/status"}=+1' \
  'redumd_metrics_requests_total{path="other"}=+3' \
  'redumd_build_info{version="'"$("$redumd" --version | awk '{print $2}')"'"}=1' \
  || fail "counter deltas"

kill -TERM "$pid"
for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null && fail "redumd still running 30 s after SIGTERM"
wait "$pid"
rc=$?
pid=
[[ $rc -eq 0 ]] || fail "redumd exited $rc after SIGTERM"
echo "1 passed, 0 failed"
