#!/usr/bin/env bash
# redumd's configuration errors end to end: exit code 2 with FILE:LINE (or
# the flag) and what is wrong; --check-config exits 0 on the reference
# config (app/redumd.conf) and 2 on bad ones; flags override the file.
#   redumd_config.sh REDUMD REFERENCE_CONF
redumd=$1 ref=$2
scen=
. "$(dirname "$0")/lib.sh"

# expect_bad NAME 'config text' 'expected message' [extra flags...]
expect_bad() {
  local n=$1 text=$2 want=$3; shift 3
  printf '%s' "$text" >"$work/$n.conf"
  timeout 10 "$redumd" --config "$work/$n.conf" "$@" >"$work/$n.out" 2>"$work/$n.err"
  rc=$?
  [[ $rc -eq 2 ]] || fail "$n: exit $rc, want 2"
  grep -qF -- "$want" "$work/$n.err" || fail "$n: no '$want' in: $(cat "$work/$n.err")"
  rm -f "$work/$n.err"
  ok "$n: exit 2, '$want'"
}

timeout 10 "$redumd" --config "$ref" --check-config >"$work/ref.out" 2>"$work/ref.err"
rc=$?
[[ $rc -eq 0 ]] || fail "--check-config on the reference config: exit $rc"
grep -q "configuration OK" "$work/ref.out" || fail "--check-config printed no 'configuration OK'"
ok "--check-config: reference config, exit 0"

f=$work
expect_bad unknown_key $'# test\nlisten udp:127.0.0.1:0\nregistar yes\n' \
  "$f/unknown_key.conf:3: unknown key 'registar'"
expect_bad bad_value $'give_up_ms soon\n' \
  "$f/bad_value.conf:1: give_up_ms: 'soon' is not a number"
expect_bad bad_bool $'\n\nmessage perhaps\n' \
  "$f/bad_bool.conf:3: message: 'perhaps' is not a boolean"
expect_bad bad_listen $'listen udp:127.0.0.1:0\nlisten sctp:127.0.0.1:5060\n' \
  "$f/bad_listen.conf:2: listen: 'sctp:127.0.0.1:5060'"
expect_bad ipv6_no_brackets $'listen tcp:::1:5060\n' \
  "$f/ipv6_no_brackets.conf:1: listen: 'tcp:::1:5060'"
expect_bad duplicate_key $'give_up_ms 100\nuas yes\ngive_up_ms 200\n' \
  "$f/duplicate_key.conf:3: 'give_up_ms' given twice (first at line 1)"
expect_bad conflicting_keys $'registrar no\nregistrar_users alice:secret\n' \
  "$f/conflicting_keys.conf:2: registrar settings with 'registrar no'"
expect_bad tls_no_cert $'listen tls:127.0.0.1:0\n' \
  "$f/tls_no_cert.conf:1: a tls listener needs tls_cert"
expect_bad dns_name $'call_to sip:bob@example.com\n' \
  "$f/dns_name.conf:1: call_to: 'sip:bob@example.com' is not a sip: URI with a numeric host"
expect_bad check_bad $'listen udp:127.0.0.1:0\nfoo 1\n' \
  "$f/check_bad.conf:2: unknown key 'foo'" --check-config
expect_bad bad_flag $'listen udp:127.0.0.1:0\n' \
  "--listen: listen: 'udp:localhost:5060'" --listen udp:localhost:5060
expect_bad bad_set $'' "--set uas_ring: unknown key 'uas_ring'" --set uas_ring=5
expect_bad missing_cert $'tls_cert /nonexistent/cert.pem\n' "tls_cert: /nonexistent/cert.pem"

timeout 10 "$redumd" --config "$work/nonexistent.conf" >/dev/null 2>"$work/nofile.err"
rc=$?
[[ $rc -eq 2 ]] || fail "a missing config file: exit $rc, want 2"
ok "missing config file: exit 2"

timeout 10 "$redumd" --no-such-flag >/dev/null 2>&1
rc=$?
[[ $rc -eq 2 ]] || fail "an unknown flag: exit $rc, want 2"
ok "unknown flag: exit 2"

# flags override the file (the printed effective configuration)
printf 'listen udp:127.0.0.1:5060\ngive_up_ms 100\nuas_reject busy 486\n' >"$work/over.conf"
timeout 10 "$redumd" --config "$work/over.conf" --give-up-ms 250 \
  --listen tcp:[::1]:0 --set "uas_reject=* 603" --check-config >"$work/over.out" 2>&1
rc=$?
[[ $rc -eq 0 ]] || fail "override: exit $rc"
grep -qx "give_up_ms 250" "$work/over.out" || fail "override: give_up_ms not 250"
grep -qx "listen tcp:\[::1\]:0" "$work/over.out" || fail "override: listen not replaced"
grep -q "listen udp" "$work/over.out" && fail "override: the file's listen is still there"
grep -qx "uas_reject \* 603" "$work/over.out" || fail "override: uas_reject not replaced"
ok "flags override the file"

finish
