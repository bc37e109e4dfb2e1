#!/usr/bin/env bash
# SIGTERM under load: redumd holds 200 calls and 100 presence
# subscriptions from SIPp, with more calls, MESSAGEs and OPTIONS still
# arriving, when SIGTERM comes:
#   redumd_load_sigterm.sh REDUMD SCENARIO_DIR
# redumd must end every usage gracefully (BYE to each call, final NOTIFY to
# each subscription: SIPp answers them all) within the deadline and exit 0;
# both holding SIPp runs must count every call successful.
redumd=$1 scen=$2
. "$(dirname "$0")/lib.sh"

start_redumd load --listen udp:127.0.0.1:0 --give-up-ms 20000
sipp_bg hold -sf "$scen/uac_hold.xml" -m 200 -r 200 -l 300
hold=$spid
sipp_bg subs -sf "$scen/sub_uac_hold.xml" -m 100 -r 200 -l 200
subs=$spid
for _ in $(seq 200); do   # until all of them are up
  kill -USR1 "$rpid"; sleep 0.1
  [[ "$(counter load calls_connected)" == 200 ]] &&
    [[ "$(counter load alive.subscription-server.active)" == 100 ]] && break
done
[[ "$(counter load calls_connected)" == 200 ]] ||
  fail "only $(counter load calls_connected) calls connected"
[[ "$(counter load alive.subscription-server.active)" == 100 ]] ||
  fail "only $(counter load alive.subscription-server.active) subscriptions active"
ok "200 calls and 100 subscriptions up"

# traffic still arriving while the shutdown runs (its outcome is not
# asserted: new requests get 503 once the shutdown began)
sipp_bg more -sn uac -m 400 -r 400
sipp_bg msgs -sf "$scen/msg_uac.xml" -m 400 -r 400
sleep 0.3
kill -TERM "$rpid"
wait_exit 40
[[ $rc -eq 0 ]] || fail "redumd exited $rc after SIGTERM under load, want 0"
grep -q "forced 0" "$work/load.err" || fail "the report shows force-ended usages"
ok "SIGTERM under load: every usage ended gracefully, exit 0"

wait_pid "$hold" 30 || fail "the held calls' SIPp exited $rc_pid"
wait_pid "$subs" 30 || fail "the subscriptions' SIPp exited $rc_pid"
ok "SIPp: every held call got its BYE, every subscription its final NOTIFY"
finish
