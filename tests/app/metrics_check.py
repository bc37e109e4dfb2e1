#!/usr/bin/python3
"""Scrapes and checks redumd's /metrics and /status (tests/app/metrics_redumd.sh).

  metrics_check.py scrape HOST:PORT OUT.json   /metrics: validate, save samples
  metrics_check.py status HOST:PORT SIP_PORT PHASE
                                               /status: one JSON object
  metrics_check.py errors HOST:PORT            404 and 405 (Allow: GET)
  metrics_check.py watch HOST:PORT PID         scrape and validate /metrics
                                               again and again while process
                                               PID lives (at most 60 s)
  metrics_check.py check A.json B.json SPEC... SPEC is KEY=+N (delta exactly
                                               N), KEY=N (value in B exactly
                                               N) or KEY=+N..M (delta range)
Exit status 0 if every check held; the failures are printed.

The page is checked twice: by the reference parser (Debian's
python3-prometheus-client, which must be installed: tools/install-deps
--test) and by the stricter rules it does not enforce: one TYPE per family,
before its samples; a sample key at most once; counters named *_total;
label values escaped.
"""
import http.client
import json
import os
import re
import sys
import time

from prometheus_client.parser import text_string_to_metric_families

NAME = r'[a-zA-Z_:][a-zA-Z0-9_:]*'
LVAL = r'"(?:[^"\\\n]|\\[\\"n])*"'
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*=' + LVAL
SAMPLE = re.compile(r'^(' + NAME + r')(\{' + LABEL + r'(?:,' + LABEL +
                    r')*\})? (\S+)$')
PROM_CTYPE = 'text/plain; version=0.0.4; charset=utf-8'


def fetch(hostport, method, path):
    host, port = hostport.rsplit(':', 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path)
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def parse_strict(text):
    types, samples, errors = {}, {}, []
    if not text.endswith('\n'):
        errors.append('page does not end in a newline')
    for line in text.split('\n')[:-1]:
        if line.startswith('# TYPE '):
            parts = line.split(' ')
            if len(parts) != 4 or not re.fullmatch(NAME, parts[2]) or \
               parts[3] not in ('counter', 'gauge'):
                errors.append('bad TYPE line: ' + line)
                continue
            if parts[2] in types:
                errors.append('TYPE twice: ' + parts[2])
            if parts[3] == 'counter' and not parts[2].endswith('_total'):
                errors.append('counter without _total: ' + parts[2])
            types[parts[2]] = parts[3]
            continue
        if line.startswith('# HELP '):
            continue
        m = SAMPLE.match(line)
        if not m:
            errors.append('bad line: ' + repr(line))
            continue
        if m.group(1) not in types:
            errors.append('sample without a TYPE before it: ' + line)
        key = m.group(1) + (m.group(2) or '')
        if key in samples:
            errors.append('sample twice: ' + key)
        try:
            samples[key] = float(m.group(3))
        except ValueError:
            errors.append('bad value: ' + line)
    return samples, errors


def cmd_scrape(hostport, out):
    status, hdrs, body = fetch(hostport, 'GET', '/metrics')
    if status != 200 or hdrs.get('Content-Type') != PROM_CTYPE:
        print('GET /metrics: %d %s' % (status, hdrs.get('Content-Type')))
        return 1
    text = body.decode('utf-8')
    # the reference parser raises on a line it cannot parse
    fams = list(text_string_to_metric_families(text))
    samples, errors = parse_strict(text)
    nref = sum(len(f.samples) for f in fams)
    if nref != len(samples):
        errors.append('reference parser saw %d samples, strict parse %d'
                      % (nref, len(samples)))
    for e in errors:
        print(e)
    with open(out, 'w') as f:
        json.dump(samples, f)
    return 1 if errors else 0


def cmd_watch(hostport, pid):
    end = time.monotonic() + 60
    n = 0
    while time.monotonic() < end:
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            break
        status, _, body = fetch(hostport, 'GET', '/metrics')
        text = body.decode('utf-8')
        list(text_string_to_metric_families(text))
        _, errors = parse_strict(text)
        if status != 200 or errors:
            print('scrape %d: status %d, %s' % (n, status, errors[:5]))
            return 1
        n += 1
    print('scrapes during the load: %d' % n)
    return 0 if n else 1


def cmd_status(hostport, sip_port, phase):
    status, hdrs, body = fetch(hostport, 'GET', '/status')
    if status != 200 or hdrs.get('Content-Type') != 'application/json':
        print('GET /status: %d %s' % (status, hdrs.get('Content-Type')))
        return 1
    st = json.loads(body)
    errors = []
    want = {'transport': 'udp', 'address': '127.0.0.1:' + sip_port}
    if want not in st.get('listeners', []):
        errors.append('listener %s not in %s' % (want, st.get('listeners')))
    if st.get('shutdown', {}).get('phase') != phase:
        errors.append('shutdown phase %s, want %s'
                      % (st.get('shutdown'), phase))
    for k in ('version', 'uptime_seconds', 'usages', 'transactions',
              'fifos'):
        if k not in st:
            errors.append('no %s in /status' % k)
    if 'stack_cmd' not in st.get('fifos', {}):
        errors.append('no stack_cmd FIFO in /status')
    for e in errors:
        print(e)
    return 1 if errors else 0


def cmd_errors(hostport):
    errors = []
    for method, path, want in (('GET', '/nope', 404),
                               ('POST', '/metrics', 405),
                               ('PUT', '/status', 405)):
        status, hdrs, _ = fetch(hostport, method, path)
        if status != want:
            errors.append('%s %s: %d, want %d' % (method, path, status, want))
        if want == 405 and hdrs.get('Allow') != 'GET':
            errors.append('%s %s: Allow %s' % (method, path,
                                               hdrs.get('Allow')))
    for e in errors:
        print(e)
    return 1 if errors else 0


def cmd_check(a_path, b_path, specs):
    with open(a_path) as f:
        a = json.load(f)
    with open(b_path) as f:
        b = json.load(f)
    errors = []
    for spec in specs:
        key, want = spec.rsplit('=', 1)
        if key not in b or key not in a:
            errors.append('no sample ' + key)
            continue
        if want.startswith('+'):
            got = round(b[key] - a[key])
            lo, _, hi = want[1:].partition('..')
            lo, hi = int(lo), int(hi or lo)
            if not lo <= got <= hi:
                errors.append('%s moved by %d, want %s' % (key, got, want))
        elif round(b[key]) != int(want):
            errors.append('%s is %g, want %s' % (key, b[key], want))
    for e in errors:
        print(e)
    return 1 if errors else 0


def main(argv):
    if len(argv) >= 4 and argv[1] == 'scrape':
        return cmd_scrape(argv[2], argv[3])
    if len(argv) >= 5 and argv[1] == 'status':
        return cmd_status(argv[2], argv[3], argv[4])
    if len(argv) >= 4 and argv[1] == 'watch':
        return cmd_watch(argv[2], argv[3])
    if len(argv) >= 3 and argv[1] == 'errors':
        return cmd_errors(argv[2])
    if len(argv) >= 4 and argv[1] == 'check':
        return cmd_check(argv[2], argv[3], argv[4:])
    print(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
