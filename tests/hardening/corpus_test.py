#!/usr/bin/env python3
"""Bad-input corpus against redumd over UDP and TCP (docs/HARDENING.md).

usage: corpus_test.py REDUMD CORPUS_DIR [--record]

CORPUS_DIR/expect.txt lists, a line each: FILE UDP-OUTCOME TCP-OUTCOME
[# note]. An outcome is a status code (the first final response),
`ignored` (no response at all; on TCP the connection stays open),
`closed` (TCP: the server closes the connection without a response),
`pong` (TCP: a CRLF keep-alive answered with CRLF), or `-` (not sent on
that transport). Each message goes on a fresh socket or connection; a 2xx
to an INVITE is ACKed and the call ended with a BYE. Afterwards redumd
must still answer OPTIONS on both transports and stop cleanly (exit 0;
under ASan its leak check runs at that exit). --record prints what each
input got instead of asserting (to write expect.txt).
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from siptest import (Redumd, Udp, Tcp, TestFail, fill, final_response,  # noqa
                     options, in_dialog, log, uniq)

RESP_TIMEOUT = 10      # s, for a response that must come
INVITE_WAIT = 3       # s, for the answer to an INVITE before a barrier
QUIET_MS = 300         # TCP `ignored`: the connection stays silent this long


def read_expect(d):
    cases = []
    with open(os.path.join(d, "expect.txt")) as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            parts = line.split()
            if len(parts) != 3:
                raise TestFail("expect.txt:%d: want FILE UDP TCP" % n)
            cases.append(tuple(parts))
    return cases


def end_call(conn, tp, raddr, resp):
    """ACK a 2xx to our INVITE and BYE the call; the BYE must get 200."""
    cseq = int(resp.hdr("cseq").split()[0])
    conn.send(in_dialog(resp, "ACK", tp, conn.laddr, cseq))
    conn.send(in_dialog(resp, "BYE", tp, conn.laddr, cseq + 1))
    deadline = time.monotonic() + RESP_TIMEOUT
    while time.monotonic() < deadline:
        r = conn.recv(deadline - time.monotonic())
        if r is not None and r.hdr("cseq", "").endswith("BYE"):
            if r.code != 200:
                raise TestFail("BYE got %r; the 2xx was:\n%s\nthe BYE "
                               "reply:\n%s" % (r, resp.raw.decode(
                                   "latin-1"), r.raw.decode("latin-1")))
            return
    raise TestFail("no answer to the BYE")


def run_udp(srv, raw_t, crlf):
    """Outcome of one template over UDP: a code or 'ignored'."""
    c = Udp(srv.udp)
    try:
        msg, cid = fill(raw_t, "udp", c.laddr, srv.udp, crlf)
        c.send(msg)
        if msg.startswith(b"INVITE"):
            # the application answers a call, after DUM: a barrier would
            # overtake it. Give the answer a moment first.
            r = final_response(c, INVITE_WAIT, cid)
            if r is not None:
                if r.code < 300:
                    end_call(c, "udp", srv.udp, r)
                return str(r.code), r
        # the barrier: a valid OPTIONS on the same socket. One socket, one
        # stack thread: what the case gets comes before the barrier's 200
        bar, bcid = fill(OPT, "udp", c.laddr, srv.udp)
        c.send(bar)
        got = None
        deadline = time.monotonic() + RESP_TIMEOUT
        while time.monotonic() < deadline:
            r = c.recv(deadline - time.monotonic())
            if r is None:
                continue
            if r.hdr("call-id") == bcid:
                if got is None:
                    return "ignored", None
                return str(got.code), got
            if r.code >= 200 and got is None:
                got = r
                if r.code < 300 and msg.startswith(b"INVITE"):
                    end_call(c, "udp", srv.udp, r)
        raise TestFail("no answer to the barrier OPTIONS")
    finally:
        c.close()


def run_tcp(srv, raw_t, crlf):
    """Outcome over TCP: a code, 'ignored', 'closed' or 'pong'."""
    c = Tcp(srv.tcp)
    try:
        msg, cid = fill(raw_t, "tcp", c.laddr, srv.tcp, crlf)
        c.send(msg)
        deadline = time.monotonic() + RESP_TIMEOUT
        first = c.recv_raw(RESP_TIMEOUT / 5)
        pong = first == b"\r\n"
        if pong:
            # a keep-alive's answer: is a response behind it?
            first = c.recv_raw(0.05)
        if first is None and c.eof:
            return "closed", None
        if first is None:
            # nothing yet: a barrier on another connection, then a quiet
            # wait on this one
            b = Tcp(srv.tcp)
            r = options(b, "tcp", srv.tcp, RESP_TIMEOUT)
            b.close()
            if r is None or r.code != 200:
                raise TestFail("barrier OPTIONS over TCP got %r" % r)
            first = c.recv_raw(QUIET_MS / 1000)
            if first is None:
                if c.eof:
                    return "closed", None
                return ("pong" if pong else "ignored"), None
        from siptest import Resp
        r = Resp(first)
        while r.code < 200:
            raw = c.recv_raw(deadline - time.monotonic())
            if raw is None:
                raise TestFail("only %r over TCP" % r)
            r = Resp(raw)
        if r.code < 300 and msg.startswith(b"INVITE"):
            end_call(c, "tcp", srv.tcp, r)
        return str(r.code), r
    finally:
        c.close()


OPT = None
# dropped by the stack's checks (counted), not by libre
STACK_DROPS = ("missing_via.sip", "ack_missing_call_id.sip")


def main():
    global OPT
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    exe, d = sys.argv[1], sys.argv[2]
    record = "--record" in sys.argv[3:]
    from siptest import OPTIONS_T
    OPT = OPTIONS_T
    cases = read_expect(d)
    srv = Redumd(exe)
    failed = passed = 0
    try:
        for name, want_udp, want_tcp in cases:
            with open(os.path.join(d, name), "rb") as f:
                raw_t = f.read()
            crlf = not name.endswith(".lf")
            for tp, want, fn in (("udp", want_udp, run_udp),
                                 ("tcp", want_tcp, run_tcp)):
                if want == "-":
                    continue
                got, resp = fn(srv, raw_t, crlf)
                if not srv.alive():
                    raise TestFail("redumd died on %s over %s" % (name, tp))
                detail = " (%s)" % resp.reason if resp else ""
                if record:
                    log("%-32s %s %s%s" % (name, tp, got, detail))
                elif got == want:
                    passed += 1
                    log("ok   %-32s %s %s%s" % (name, tp, got, detail))
                else:
                    failed += 1
                    log("FAIL %-32s %s: want %s, got %s%s" %
                        (name, tp, want, got, detail))
        # the stack's `malformed` counter: every 400/416/420 here comes
        # from its checks, plus the requests it drops (no Via, bad ACK)
        if not record:
            want = sum(1 for _, u, t in cases for o in (u, t)
                       if o in ("400", "416", "420"))
            want += sum(1 for n, u, t in cases if n in STACK_DROPS
                        for o in (u, t) if o != "-")
            got = srv.report().get("malformed", 0)
            if got == want:
                passed += 1
                log("ok   stack counted %d malformed requests" % got)
            else:
                failed += 1
                log("FAIL stack counted %d malformed requests, want %d" %
                    (got, want))
        # still serving, on both transports
        u = Udp(srv.udp)
        r1 = options(u, "udp", srv.udp)
        u.close()
        t = Tcp(srv.tcp)
        r2 = options(t, "tcp", srv.tcp)
        t.close()
        for tp, r in (("udp", r1), ("tcp", r2)):
            if r is None or r.code != 200:
                failed += 1
                log("FAIL final OPTIONS over %s: %r" % (tp, r))
            else:
                passed += 1
        rc = srv.stop()
        if rc != 0:
            failed += 1
            log("FAIL redumd exit status %d after the corpus" % rc)
        else:
            passed += 1
    except TestFail as e:
        srv.kill()
        log("FAIL " + str(e))
        failed += 1
    log("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
