#!/usr/bin/env bash
# redum-loadgen over real sockets on loopback, one case per ctest test:
#   loadgen_test.sh CASE LOADGEN [REDUMD]
# CASE:
#   sipp_uas   100 calls/s for 2 s against SIPp's uas: all succeed, JSON sane
#   redumd     calls + OPTIONS against redumd; its /metrics and its counters
#              printed at exit agree with the summaries
#              (SIGTERM) match the loadgen's summary
#   nobody     a port where nobody listens: all fail (timeout/icmp), exit 1
#   shutdown   --shutdown-at mid-run, graceful and force: a shutdown object
#   kill       --kill-target redumd --kill-at: SIGTERM sent, drain reported
#   other_scenarios  register (new AORs, a pool), subscribe, message
#              against SIPp scenarios: all succeed
#   args       bad arguments: exit 255 and a message; --help: 0
# Every process we start is bounded (-timeout, timeout(1)) and killed by its
# PID on exit. Ports come from the kernel (bind to 0, read back).
set -u
case_=$1
lg=$2
redumd=${3:-}
work=$(mktemp -d /tmp/loadgen-test.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT
fail() {
	echo "FAIL ($case_): $*"
	for f in "$work"/*.out "$work"/*.err; do
		[ -s "$f" ] && { echo "--- $f"; tail -n 30 "$f"; }
	done
	echo "0 passed, 1 failed"
	exit 1
}

free_ports() {   # N distinct free ports on 127.0.0.1 (tests/common/free_ports.py)
	python3 "$(dirname "${BASH_SOURCE[0]}")/../common/free_ports.py" "$1"
}

# jq-like checks on the last line of a file (the --json summary)
json_check() {   # FILE PYTHON-EXPRESSION-over-j (must be True)
	python3 - "$1" "$2" <<'EOF' || return 1
import json, sys
lines = [l for l in open(sys.argv[1]).read().splitlines() if l.strip()]
j = json.loads(lines[-1])
ok = eval(sys.argv[2], {"j": j})
if not ok:
    print("json check failed:", sys.argv[2]); print(lines[-1]); sys.exit(1)
EOF
}
json_get() {   # FILE KEY-EXPRESSION
	python3 -c 'import json,sys; l=[x for x in open(sys.argv[1]).read().splitlines() if x.strip()]; j=json.loads(l[-1]); print(eval(sys.argv[2]))' "$1" "$2"
}

keys_ok='all(k in j for k in ("scenario","attempted","succeeded","failed","failed_by_reason","retransmissions","rate_achieved","latency_ms")) and all(k in j["latency_ms"] for k in ("p50","p90","p99","p999","max")) and isinstance(j["failed_by_reason"], dict)'

start_uas() {   # PORT MEDIA CTRL
	sipp -sn uas -i 127.0.0.1 -p "$1" -mp "$2" -cp "$3" -buff_size 4194304 \
		-nostdin -timeout 25s >"$work/uas.out" 2>"$work/uas.err" &
	pids+=($!)
	for _ in $(seq 50); do
		ss -Hlun "sport = :$1" 2>/dev/null | grep -q . && return 0
		sleep 0.1
	done
	fail "SIPp uas did not bind"
}

start_redumd() {   # [ARGS...] sets rport, rpid
	"$redumd" --listen udp:127.0.0.1:0 "$@" >"$work/redumd.out" 2>"$work/redumd.err" &
	rpid=$!
	pids+=($rpid)
	rport=""
	for _ in $(seq 100); do
		rport=$(awk -F: '/^listening udp/{print $NF}' "$work/redumd.out")
		[ -n "$rport" ] && return 0
		sleep 0.1
	done
	fail "redumd printed no udp listener"
}

wait_exit() {   # PID SECONDS -> rc in $wrc
	local i
	for i in $(seq $(($2 * 10))); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$1" 2>/dev/null && fail "pid $1 still running after $2 s"
	wait "$1"
	wrc=$?
}

run_lg() {   # OUTFILE ARGS... -> rc in $lrc (bounded by timeout(1))
	local out=$1
	shift
	timeout -k 2 25 "$lg" "$@" >"$out" 2>"${out%.out}.err"
	lrc=$?
}

case "$case_" in

sipp_uas)
	read -r p mp cp <<<"$(free_ports 3)"
	start_uas "$p" "$mp" "$cp"
	run_lg "$work/lg.out" "127.0.0.1:$p" -s call -r 100 --duration 2 \
		-l 1000 --timeout-ms 8000 --json --csv "$work/lg.csv"
	[ "$lrc" = 0 ] || fail "exit code $lrc, want 0"
	json_check "$work/lg.out" "$keys_ok" || fail "JSON keys"
	json_check "$work/lg.out" 'j["scenario"]=="call" and j["attempted"]==200 and j["succeeded"]==200 and j["failed"]==0 and j["failed_by_reason"]=={}' ||
		fail "counts"
	# open loop: nothing starts before its intended time, so the achieved
	# rate cannot exceed the target (an invariant, not a speed check)
	json_check "$work/lg.out" '0 < j["rate_achieved"] <= 100.5 and 0 < j["latency_ms"]["p50"] <= j["latency_ms"]["p90"] <= j["latency_ms"]["p99"] <= j["latency_ms"]["p999"] <= j["latency_ms"]["max"] and j["latency_ms"]["samples"]==200' ||
		fail "rate/latency not sane"
	# interval lines on stdout (not a terminal) and CSV rows
	grep -q '^t=1.0 ' "$work/lg.out" || fail "no interval line"
	[ "$(wc -l <"$work/lg.csv")" -ge 3 ] || fail "CSV has no rows"
	head -1 "$work/lg.csv" | grep -q '^time_s,rate,' || fail "CSV header"
	;;

redumd)
	[ -x "$redumd" ] || fail "no redumd"
	start_redumd --metrics 127.0.0.1:0
	maddr=""
	for _ in $(seq 50); do
		maddr=$(sed -n 's/^metrics http:\(.*\)$/\1/p' "$work/redumd.err" | head -1)
		[ -n "$maddr" ] && break
		sleep 0.1
	done
	[ -n "$maddr" ] || fail "redumd printed no metrics address"
	run_lg "$work/lg.out" "127.0.0.1:$rport" -s call -r 100 -m 150 \
		--timeout-ms 8000 --json
	[ "$lrc" = 0 ] || fail "call run: exit code $lrc"
	run_lg "$work/lg2.out" "127.0.0.1:$rport" -s mix:call=1,options=1 \
		-r 100 -m 100 --timeout-ms 8000 --json
	[ "$lrc" = 0 ] || fail "mix run: exit code $lrc"
	# what redumd's /metrics counted, while it still runs
	python3 - "$maddr" >"$work/metrics.txt" <<'PY' || fail "scraping /metrics"
import sys, urllib.request
print(urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=5).read().decode())
PY
	mval() { awk -v k="$1" '$1==k {print $2}' "$work/metrics.txt" | tail -1; }
	m_inv=$(mval 'redumd_sip_requests_received_total{method="INVITE"}')
	m_opt=$(mval 'redumd_sip_requests_received_total{method="OPTIONS"}')
	m_bye=$(mval 'redumd_sip_requests_received_total{method="BYE"}')
	m_acks=$(mval redumd_stack_acks_total)
	[ -n "$m_inv" ] && [ -n "$m_opt" ] || fail "/metrics lacks the request counters"
	[ $((m_inv + m_opt)) = 250 ] || fail "/metrics INVITE $m_inv + OPTIONS $m_opt != 250 attempts"
	[ "$m_bye" = "$m_inv" ] || fail "/metrics BYE $m_bye != INVITE $m_inv"
	[ "$m_acks" = "$m_inv" ] || fail "/metrics acks $m_acks != INVITE $m_inv"
	kill -TERM "$rpid"
	wait_exit "$rpid" 20
	[ "$wrc" = 0 ] || fail "redumd exited $wrc"
	count() { awk -v k="$1" '$1==k {print $2}' "$work/redumd.err" | tail -1; }
	a1=$(json_get "$work/lg.out" 'j["succeeded"]')
	# the mix: the calls it made are its attempts minus its OPTIONS
	opt=$(count req_in.OPTIONS)
	inv=$(count req_in.INVITE)
	bye=$(count req_in.BYE)
	acks=$(count acks)
	a2=$(json_get "$work/lg2.out" 'j["succeeded"]')
	[ "$a1" = 150 ] || fail "call run succeeded $a1, want 150"
	[ "$a2" = 100 ] || fail "mix run succeeded $a2, want 100"
	[ -n "$opt" ] && [ "$opt" -gt 0 ] || fail "redumd saw no OPTIONS (mix)"
	[ $((inv + opt)) = 250 ] || fail "redumd INVITE $inv + OPTIONS $opt != 250 attempts"
	[ "$bye" = "$inv" ] || fail "redumd BYE $bye != INVITE $inv"
	[ "$acks" = "$inv" ] || fail "redumd acks $acks != INVITE $inv"
	[ "$inv" = "$m_inv" ] && [ "$opt" = "$m_opt" ] ||
		fail "exit counters ($inv, $opt) differ from /metrics ($m_inv, $m_opt)"
	;;

nobody)
	read -r p <<<"$(free_ports 1)"   # released at once: nobody listens
	run_lg "$work/lg.out" "127.0.0.1:$p" -s call -r 50 -m 10 \
		--timeout-ms 1000 --drain-ms 1500 --give-up-ms 500 --json
	[ "$lrc" = 1 ] || fail "exit code $lrc, want 1"
	json_check "$work/lg.out" "$keys_ok" || fail "JSON keys"
	json_check "$work/lg.out" 'j["attempted"]==10 and j["succeeded"]==0 and j["failed"]==10 and sum(v for k, v in j["failed_by_reason"].items() if k in ("timeout","icmp"))==10' ||
		fail "not all failed by timeout/icmp"
	# each unanswered INVITE is re-sent by the client transaction at
	# T1 = 0.5 s, before the 1 s timeout: those re-sends are counted
	json_check "$work/lg.out" 'j["retransmissions"]>=10' ||
		fail "the INVITE re-sends were not counted"
	# -l 5: the first 5 stay outstanding (1 s timeout) while the other 5
	# come due (0.1 s apart): those fail max_concurrent, not started late
	run_lg "$work/lg2.out" "127.0.0.1:$p" -s call -r 50 -m 10 -l 5 \
		--timeout-ms 1000 --drain-ms 1500 --give-up-ms 500 --json
	[ "$lrc" = 1 ] || fail "-l: exit code $lrc, want 1"
	json_check "$work/lg2.out" 'j["attempted"]==10 and j["started"]==5 and j["failed_by_reason"].get("max_concurrent")==5 and j["peak_concurrent"]==5' ||
		fail "-l 5: not 5 max_concurrent"
	;;

shutdown)
	read -r p mp cp <<<"$(free_ports 3)"
	start_uas "$p" "$mp" "$cp"
	for mode in graceful force; do
		run_lg "$work/sd-$mode.out" "127.0.0.1:$p" -s call -r 100 \
			--duration 3 -d 2000 --shutdown-at 1 \
			--shutdown-mode "$mode" --give-up-ms 3000 --json
		case "$lrc" in 0|1) ;; *) fail "$mode: exit code $lrc" ;; esac
		json_check "$work/sd-$mode.out" "$keys_ok" || fail "$mode: JSON keys"
		json_check "$work/sd-$mode.out" 'isinstance(j.get("shutdown"), dict) and j["shutdown"]["mode"]=="'$mode'" and j["shutdown"]["to_can_be_deleted_ms"] >= 0 and "ended" in j["shutdown"] and "force_ended" in j["shutdown"] and j["shutdown"]["alive_at_stop"].get("invite-client",0) > 0 and sum(j["shutdown"]["ended"].values()) > 0' ||
			fail "$mode: no sane shutdown object"
		# the stop came at 1 s: nothing was attempted after it
		json_check "$work/sd-$mode.out" 'j["attempted"] <= 110 and j["attempted"]==j["succeeded"]+j["failed"]' ||
			fail "$mode: attempts after the stop"
	done
	json_check "$work/sd-force.out" 'j["shutdown"]["force_ended"] > 0' ||
		fail "force: nothing force-ended"
	;;

kill)
	[ -x "$redumd" ] || fail "no redumd"
	start_redumd
	run_lg "$work/lg.out" "127.0.0.1:$rport" -s call -r 100 --duration 2 \
		-d 300 --kill-target "$rpid" --kill-at 1 --timeout-ms 3000 \
		--drain-ms 4000 --give-up-ms 1000 --json
	case "$lrc" in 0|1) ;; *) fail "exit code $lrc" ;; esac
	wait_exit "$rpid" 20
	[ "$wrc" = 0 ] || fail "redumd exited $wrc after the loadgen's SIGTERM"
	grep -q "redumd: shutting down (signal 15" "$work/redumd.err" ||
		fail "redumd never got SIGTERM"
	json_check "$work/lg.out" 'isinstance(j.get("kill"), dict) and j["kill"]["sent"] is True and j["kill"]["at_s"] >= 0.99 and j["kill"]["in_flight"] == j["kill"]["in_flight_completed"] + j["kill"]["in_flight_failed"] and j["kill"]["started_after"] == j["kill"]["completed_after"] + j["kill"]["failed_after"] and j["kill"]["started_after"] > 0' ||
		fail "kill object"
	;;

other_scenarios)
	# register (new AORs and a pool), subscribe, message, each against a
	# SIPp scenario of tests/loadgen/scenarios/
	sc=$(dirname "$0")/scenarios
	read -r p1 p2 p3 <<<"$(free_ports 3)"
	for x in "reg_uas $p1" "sub_uas $p2" "msg_uas $p3"; do
		set -- $x
		sipp -sf "$sc/$1.xml" -i 127.0.0.1 -p "$2" -buff_size 4194304 \
			-nostdin -timeout 25s >"$work/$1.out" 2>"$work/$1.err" &
		pids+=($!)
	done
	for port in $p1 $p2 $p3; do
		for _ in $(seq 50); do
			ss -Hlun "sport = :$port" 2>/dev/null | grep -q . && break
			sleep 0.1
		done
	done
	for run in "register $p1 50" "register $p1 50 --pool 5" \
		   "subscribe $p2 20" "message $p3 50"; do
		set -- $run
		s=$1 port=$2 n=$3
		shift 3
		run_lg "$work/lg-$s.out" "127.0.0.1:$port" -s "$s" -r 100 -m "$n" \
			--timeout-ms 5000 --json "$@"
		[ "$lrc" = 0 ] || fail "$s $*: exit code $lrc"
		json_check "$work/lg-$s.out" "$keys_ok" || fail "$s: JSON keys"
		json_check "$work/lg-$s.out" 'j["scenario"]=="'$s'" and j["attempted"]=='$n' and j["succeeded"]=='$n' and j["latency_ms"]["samples"]=='$n ||
			fail "$s $*: counts"
	done
	;;

args)
	expect() {   # RC ARGS...
		local want=$1
		shift
		timeout 10 "$lg" "$@" >"$work/a.out" 2>"$work/a.err"
		local rc=$?
		[ "$rc" = "$want" ] || fail "'$*' exited $rc, want $want"
		if [ "$want" = 255 ]; then
			grep -q 'redum-loadgen: ' "$work/a.err" ||
				fail "'$*': no message on stderr"
		fi
	}
	expect 255
	expect 255 localhost:5060
	expect 255 127.0.0.1
	expect 255 127.0.0.1:5060 -s nosuch
	expect 255 127.0.0.1:5060 -s mix:call=x
	expect 255 127.0.0.1:5060 -r 0
	expect 255 127.0.0.1:5060 -r abc
	expect 255 127.0.0.1:5060 -t x9
	expect 255 127.0.0.1:5060 -m 0
	expect 255 127.0.0.1:5060 --shutdown-mode maybe
	expect 255 127.0.0.1:5060 --kill-at 3
	expect 255 127.0.0.1:5060 --no-such-flag
	expect 255 127.0.0.1:5060 127.0.0.1:5061
	expect 255 10.1.2.3:5060
	expect 0 --help
	grep -q 'usage: redum-loadgen' "$work/a.out" || fail "--help text"
	expect 0 --version
	# a local port already taken: a setup error
	python3 - "$lg" "$work" <<'EOF' || fail "busy port: not exit 254"
import socket, subprocess, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
r = subprocess.run([sys.argv[1], "127.0.0.1:9", "-p", str(port), "-m", "1"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=20)
if r.returncode != 254:
    print("exit", r.returncode, r.stderr.decode()); sys.exit(1)
EOF
	;;

*)
	fail "unknown case"
	;;
esac
echo "1 passed, 0 failed"
