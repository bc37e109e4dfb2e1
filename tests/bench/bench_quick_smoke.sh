#!/usr/bin/env bash
# bench_quick_smoke SRCDIR BINDIR: tools/bench/run --quick with this
# build's binaries must finish and print, as its last line, one JSON object
# with the ratio keys and a figure per server and driver; each server must
# have answered calls (at least one call succeeded in its probes: a server
# that does not work at all fails here, a slow one never does); and the
# libre baselines must not link libredum (it interposes libre's timers,
# udp and rand, which would make them something else than a baseline).
set -u -o pipefail
src=$1 bin=$2
fail() { echo "FAIL: $*"; exit 1; }

for b in redum-baseline-libre-inline redum-baseline-libre-sipsess; do
	[ -x "$bin/$b" ] || fail "$bin/$b not built"
	# a static libredum leaves its symbols; a shared one a NEEDED entry
	if nm "$bin/$b" 2>/dev/null | grep -Eq ' [TtDdBb] (redum_|tmr_wheel)'; then
		fail "$b holds libredum symbols"
	fi
	if readelf -d "$bin/$b" | grep -q 'libredum'; then
		fail "$b needs libredum"
	fi
	readelf -d "$bin/$b" | grep -q 'libre\.so' || fail "$b does not link libre.so"
done

out=$(mktemp -d /tmp/bench_quick_smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT
"$src/tools/bench/run" --quick --json --bin "$bin" --out "$out/raw" \
	>"$out/stdout" 2>"$out/stderr"
rc=$?
tail -n 25 "$out/stderr"
cat "$out/stdout"
[ "$rc" -eq 0 ] || fail "run --quick exited $rc"

python3 - "$out/stdout" "$out/raw/detail.json" <<'PY' || fail "JSON check"
import json, sys
last = open(sys.argv[1]).read().strip().splitlines()[-1]
j = json.loads(last)                       # valid JSON on the last line
for k in ("ratio_vs_libre_inline", "ratio_vs_sipp_uas", "max_clean_cps",
          "cpu_us_per_call", "ratios_by_driver", "machine", "registrar",
          "command", "date_utc"):
    assert k in j, f"missing key {k}"
servers = ("redumd", "libre-inline", "libre-sipsess", "sipp-uas")
for s in servers:
    for d in ("sipp", "loadgen"):
        assert d in j["max_clean_cps"][s], f"no figure for {s}/{d}"
        assert d in j["cpu_us_per_call"][s], f"no cpu for {s}/{d}"
detail = json.load(open(sys.argv[2]))
for s in servers:
    for d in ("sipp", "loadgen"):
        oks = [p.get("ok", 0) for p in detail["calls"][s][d]["probes"]]
        assert oks and max(oks) > 0, f"{s}/{d}: no call succeeded: {oks}"
print("bench_quick_smoke: JSON keys present, every server answered calls")
PY
echo "1 passed, 0 failed"
