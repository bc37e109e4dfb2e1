#!/usr/bin/env bash
# redumd's client usages made at start, against SIPp servers, and what the
# shutdown does with them:
#   redumd_clients.sh REDUMD SCENARIO_DIR
# 1. --register-to a SIPp registrar granting 2 s: REGISTER, a refresh, and
#    at SIGTERM the un-REGISTER (Expires: 0) -> SIPp's scenario completes
#    and redumd exits 0. 1b: the same against a registrar that asks for
#    digest credentials (REG_PASSWORD=wrong makes SIPp's check fail).
# 2. --call-to SIPp's uas: the call is connected; at SIGTERM redumd sends
#    BYE (SIPp completes its call) and exits 0.
# 3. --subscribe-to a notifier that answers the unsubscribe and sends the
#    final NOTIFY -> exit 0.
# 4. --subscribe-to a silent notifier (200 + NOTIFY, then it ignores the
#    unsubscribe) with --give-up-ms 1000 -> exit 3 at the deadline, the
#    report naming the subscription-client usage.
redumd=$1 scen=$2
. "$(dirname "$0")/lib.sh"

# 1. register_to
sipp_server regsrv -sf "$scen/reg_uas.xml" -m 1
start_redumd reg --listen udp:127.0.0.1:0 --register-to "sip:127.0.0.1:$sport"
wait_log reg "registered at sip:127.0.0.1:$sport"
for _ in $(seq 50); do   # the refresh (2 s granted: refreshed after ~1 s)
  [[ $(grep -c "registered at" "$work/reg.err") -ge 2 ]] && break
  sleep 0.1
done
[[ $(grep -c "registered at" "$work/reg.err") -ge 2 ]] || fail "register_to: no refresh"
kill -TERM "$rpid"
wait_exit 15
[[ $rc -eq 0 ]] || fail "register_to: redumd exited $rc, want 0"
wait_pid "$spid" 15 || fail "register_to: the SIPp registrar exited $rc_pid (no un-REGISTER?)"
grep -q "unregistered at" "$work/reg.err" || fail "register_to: no 'unregistered' line"
ok "register_to: REGISTER, refresh, un-REGISTER at shutdown, exit 0"

# 1b. register_to a registrar that asks for digest credentials: the
#     challenge is answered, and the un-REGISTER at shutdown carries valid
#     credentials too (SIPp's verifyauth checks both)
sipp_server regauth -sf "$scen/reg_uas_auth.xml" -m 1
start_redumd regauth --listen udp:127.0.0.1:0 --register-to "sip:127.0.0.1:$sport" \
  --set register_user=redumd --set register_password="${REG_PASSWORD:-s3cret}"
wait_log regauth "registered at sip:127.0.0.1:$sport"
kill -TERM "$rpid"
wait_exit 15
[[ $rc -eq 0 ]] || fail "register_to with auth: redumd exited $rc, want 0"
wait_pid "$spid" 15 || fail "register_to with auth: the SIPp registrar exited $rc_pid (bad credentials?)"
ok "register_to with auth: 401 answered, authenticated REGISTER and un-REGISTER, exit 0"

# 2. call_to
sipp_server callsrv -sn uas -m 1
start_redumd call --listen udp:127.0.0.1:0 --call-to "sip:bob@127.0.0.1:$sport"
wait_log call "call to sip:bob@127.0.0.1:$sport connected"
kill -TERM "$rpid"
wait_exit 15
[[ $rc -eq 0 ]] || fail "call_to: redumd exited $rc, want 0"
wait_pid "$spid" 15 || fail "call_to: SIPp's uas exited $rc_pid (no BYE?)"
ok "call_to: call connected, BYE at shutdown, exit 0"

# 3. subscribe_to, a notifier that ends the subscription when asked
sipp_server subgood -sf "$scen/sub_uas_good.xml" -m 1
start_redumd subgood --listen udp:127.0.0.1:0 --subscribe-to "sip:alice@127.0.0.1:$sport"
wait_log subgood "subscribed to sip:alice@127.0.0.1:$sport"
kill -TERM "$rpid"
wait_exit 15
[[ $rc -eq 0 ]] || fail "subscribe_to: redumd exited $rc, want 0"
wait_pid "$spid" 15 || fail "subscribe_to: the SIPp notifier exited $rc_pid"
ok "subscribe_to: unsubscribed at shutdown, exit 0"

# 4. subscribe_to, a silent notifier
sipp_server subsilent -sf "$scen/sub_uas_silent.xml" -m 1
start_redumd subsilent --listen udp:127.0.0.1:0 --give-up-ms 1000 \
  --subscribe-to "sip:alice@127.0.0.1:$sport"
wait_log subsilent "subscribed to sip:alice@127.0.0.1:$sport"
kill -TERM "$rpid"
wait_exit 15
[[ $rc -eq 3 ]] || fail "silent notifier: redumd exited $rc, want 3"
grep -q "forced 1 subscription-client" "$work/subsilent.err" ||
  fail "silent notifier: the report does not name the subscription"
kill "$spid" 2>/dev/null
ok "subscribe_to a silent notifier: exit 3 at the deadline, usage named"

finish
