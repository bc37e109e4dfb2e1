#!/usr/bin/env bash
# redumd's roles, driven by SIPp over UDP loopback:
#   redumd_roles.sh REDUMD SCENARIO_DIR
# One redumd (uas_reject busy 486, metrics on 127.0.0.1:0); SIPp places 20
# calls (answered), 3 to "busy" (486), registers and unregisters 2 AORs,
# subscribes and unsubscribes twice (presence agent), sends 5 MESSAGEs and
# 4 OPTIONS. Then SIGUSR1's state report and /metrics must show exactly
# those counts, and SIGTERM must end redumd with exit 0. A second redumd
# with uas_ring_ms, uas_hangup_s 1, options no and message no: SIPp's held
# calls get redumd's BYE, OPTIONS 405, MESSAGE 501; its registrar with
# registrar_users challenges (401) and binds with the password.
redumd=$1 scen=$2
. "$(dirname "$0")/lib.sh"

start_redumd roles --listen udp:127.0.0.1:0 --metrics 127.0.0.1:0 \
  --set "uas_reject=busy 486" --give-up-ms 8000
wait_log roles "^metrics http:"
maddr=$(sed -n 's/^metrics http://p' "$work/roles.err" | head -1)

sipp_run calls -sn uac -m 20 -r 20;            ok "20 calls answered"
sipp_run busy -sf "$scen/uac_busy.xml" -m 3;   ok "3 calls rejected 486"
sipp_run reg -sf "$scen/reg_uac.xml" -m 2;     ok "register + unregister"
sipp_run sub -sf "$scen/sub_uac.xml" -m 2;     ok "subscribe + unsubscribe"
sipp_run msg -sf "$scen/msg_uac.xml" -m 5;     ok "5 MESSAGEs answered 200"
sipp_run opt -sf "$scen/options_uac.xml" -m 4; ok "4 OPTIONS answered 200 with Allow"

kill -USR1 "$rpid"
wait_log roles "^options_answered 4"
expect_counter roles calls_answered 20
expect_counter roles calls_connected 20
expect_counter roles calls_rejected.486 3
expect_counter roles messages_received 5
expect_counter roles options_answered 4
expect_counter roles registrar.ok 4
ok "the state report counts every request"

python3 - "$maddr" <<'PY' || fail "/metrics does not hold the role counters"
import sys, urllib.request
body = urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=10).read().decode()
want = {
    "redumd_calls_answered_total": "20",
    'redumd_calls_rejected_total{code="486"}': "3",
    "redumd_messages_received_total": "5",
    "redumd_options_answered_total": "4",
}
got = {}
for line in body.splitlines():
    if line and not line.startswith("#"):
        name, _, value = line.rpartition(" ")
        got[name] = value
bad = [(k, got.get(k), v) for k, v in want.items() if got.get(k) != v]
if bad:
    print("metrics mismatch:", bad)
    sys.exit(1)
PY
ok "/metrics holds the role counters"

kill -TERM "$rpid"
wait_exit 20
[[ $rc -eq 0 ]] || fail "redumd exited $rc after SIGTERM, want 0"
grep -q "redumd: stopped" "$work/roles.err" || fail "no 'stopped' line"
ok "SIGTERM: exit 0"

# The switches: a ring delay, a hang-up timer, OPTIONS and MESSAGE off.
start_redumd switches --listen udp:127.0.0.1:0 --set uas_ring_ms=200 \
  --set uas_hangup_s=1 --set options=no --set message=no \
  --set registrar_users=alice:secret --set registrar_realm=test.example
sipp_run held -sf "$scen/uac_hold.xml" -m 3 -r 10
ok "uas_ring_ms + uas_hangup_s: 3 calls answered after the ring, BYE from redumd"
sipp_run opt405 -sf "$scen/options_405.xml" -m 1; ok "options no: 405"
sipp_run msg501 -sf "$scen/msg_501.xml" -m 1;     ok "message no: 501"
sipp_run regauth -sf "$scen/reg_uac_auth.xml" -m 1
ok "registrar_users: 401 with the realm, then bound with the password"
kill -USR1 "$rpid"
wait_log switches "^calls_hung_up 3"
expect_counter switches calls_answered 3
expect_counter switches options_answered 0
expect_counter switches registrar.challenged 1
expect_counter switches registrar.ok 1
kill -TERM "$rpid"
wait_exit 20
[[ $rc -eq 0 ]] || fail "switches: redumd exited $rc after SIGTERM, want 0"
ok "switches: counters, SIGTERM exit 0"
finish
