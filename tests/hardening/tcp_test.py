#!/usr/bin/env python3
"""TCP edge cases against redumd (docs/HARDENING.md).

usage: tcp_test.py REDUMD streams|loss|many [N]

streams  partial messages (one request written in chunks with pauses,
         split inside the start line, a header, the CRLFCRLF and the
         body: answered exactly once) and pipelined ones (many requests
         in one write, and one write holding the end of one request and
         the start of the next: each answered once, in order);
loss     connection loss mid-dialog: calls over TCP whose caller closes the
         connection (FIN, or RST) after the 200/ACK, and one that closes
         before the ACK; redumd (uas_hangup_s 1) then hangs up: its BYE
         cannot reach the caller, the call must still end (counters), the
         server must go on serving and stop cleanly;
many     N (default 10000) TCP connections open at once on loopback, each
         sending an OPTIONS and getting its 200 (RLIMIT_NOFILE raised for
         both sides).
Every wait is bounded; the last line is `N passed, N failed`.
"""
import os
import resource
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from siptest import (Redumd, Udp, Tcp, TestFail, fill, final_response,  # noqa
                     options, in_dialog, log, Resp, parse_stream, OPTIONS_T)

results = {"passed": 0, "failed": 0}


def check(cond, what):
    if cond:
        results["passed"] += 1
        log("ok   " + what)
    else:
        results["failed"] += 1
        log("FAIL " + what)
    return cond


def opt_msg(conn_laddr, raddr, cseq, tp="tcp", call_id=None):
    msg, cid = fill(OPTIONS_T.replace(b"CSeq: 1 ", b"CSeq: %d " % cseq),
                    tp, conn_laddr, raddr)
    return msg, cid


INVITE_T = b"""INVITE sip:hardening@$REMOTE_IP:$REMOTE_PORT SIP/2.0
Via: SIP/2.0/$TRANSPORT $LOCAL_IP:$LOCAL_PORT;branch=$BRANCH;rport
Max-Forwards: 70
From: <sip:caller@$LOCAL_IP:$LOCAL_PORT>;tag=c1
To: <sip:hardening@$REMOTE_IP:$REMOTE_PORT>
Call-ID: $CALL_ID
CSeq: 1 INVITE
Contact: <sip:caller@$LOCAL_IP:$LOCAL_PORT;transport=$transport>
Content-Type: application/sdp
Content-Length: $CLEN

v=0
o=caller 1 1 IN IP4 127.0.0.1
s=-
c=IN IP4 127.0.0.1
t=0 0
m=audio 40000 RTP/AVP 0
"""


def responses(conn, n, timeout):
    """n final responses on conn (provisionals skipped), or fewer at the
    timeout."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        r = conn.recv(deadline - time.monotonic())
        if r is not None and r.code >= 200:
            got.append(r)
    return got


def quiet(conn, secs):
    """True if nothing more arrives on conn within secs."""
    return conn.recv_raw(secs) is None and not conn.eof


def test_streams(srv):
    # 1. one OPTIONS in 6 chunks, 100 ms apart
    c = Tcp(srv.tcp)
    msg, cid = opt_msg(c.laddr, srv.tcp, 1)
    cuts = [3, msg.index(b"Via") + 5, msg.index(b"Call-ID") + 2,
            len(msg) - 3, len(msg) - 1]
    prev = 0
    for cut in cuts + [len(msg)]:
        c.send(msg[prev:cut])
        prev = cut
        time.sleep(0.1)
    got = responses(c, 1, 10)
    check(len(got) == 1 and got[0].code == 200 and
          got[0].hdr("call-id") == cid,
          "OPTIONS in 6 chunks: one 200 (%r)" % got)
    check(quiet(c, 0.3), "... and nothing else")

    # 2. an INVITE whose body comes in 3 pieces, 200 ms apart: one call
    inv, icid = fill(INVITE_T, "tcp", c.laddr, srv.tcp)
    body_at = inv.index(b"\r\n\r\n") + 4
    pieces = [inv[:body_at + 5], inv[body_at + 5:body_at + 40],
              inv[body_at + 40:]]
    for p in pieces:
        c.send(p)
        time.sleep(0.2)
    got = responses(c, 1, 10)
    ok = check(len(got) == 1 and got[0].code == 200 and
               got[0].hdr("call-id") == icid,
               "INVITE with its body in 3 pieces: 200 (%r)" % got)
    if ok:
        c.send(in_dialog(got[0], "ACK", "tcp", c.laddr, 1))
        c.send(in_dialog(got[0], "BYE", "tcp", c.laddr, 2))
        got = responses(c, 1, 10)
        check(len(got) == 1 and got[0].code == 200 and
              got[0].hdr("cseq").endswith("BYE"), "... BYE: 200")
    c.close()

    # 3. byte by byte (a 1-byte write each, no pause)
    c = Tcp(srv.tcp)
    msg, cid = opt_msg(c.laddr, srv.tcp, 2)
    for i in range(len(msg)):
        c.send(msg[i:i + 1])
    got = responses(c, 1, 10)
    check(len(got) == 1 and got[0].hdr("call-id") == cid and
          got[0].code == 200, "OPTIONS one byte a write: 200")
    c.close()

    # 4. pipelined: 50 OPTIONS in one write, each answered, in order
    c = Tcp(srv.tcp)
    msgs = [opt_msg(c.laddr, srv.tcp, i + 1) for i in range(50)]
    c.send(b"".join(m for m, _ in msgs))
    got = responses(c, 50, 20)
    check([r.hdr("call-id") for r in got] == [cid for _, cid in msgs] and
          all(r.code == 200 for r in got),
          "50 pipelined OPTIONS: 50 200s in order (%d)" % len(got))
    check(quiet(c, 0.3), "... and nothing else")

    # 5. pipelined mix: OPTIONS, unknown method, INVITE, malformed (400),
    #    OPTIONS; the INVITE is answered by the application, so only the
    #    set of answers is checked, then the call ended
    m1, c1 = opt_msg(c.laddr, srv.tcp, 100)
    m2, c2 = fill(OPTIONS_T.replace(b"OPTIONS", b"FROBNICATE"), "tcp",
                  c.laddr, srv.tcp)
    m3, c3 = fill(INVITE_T, "tcp", c.laddr, srv.tcp)
    m4, c4 = fill(OPTIONS_T.replace(b"CSeq: 1 OPTIONS", b"CSeq: 1 INVITE"),
                  "tcp", c.laddr, srv.tcp)
    m5, c5 = opt_msg(c.laddr, srv.tcp, 101)
    c.send(m1 + m2 + m3 + m4 + m5)
    got = responses(c, 5, 20)
    codes = {r.hdr("call-id"): r.code for r in got}
    check(codes == {c1: 200, c2: 501, c3: 200, c4: 400, c5: 200},
          "pipelined OPTIONS/FROBNICATE/INVITE/bad CSeq/OPTIONS: "
          "200/501/200/400/200 (%r)" % codes)
    inv = [r for r in got if r.hdr("call-id") == c3]
    if inv:
        c.send(in_dialog(inv[0], "ACK", "tcp", c.laddr, 1) +
               in_dialog(inv[0], "BYE", "tcp", c.laddr, 2))
        got = responses(c, 1, 10)
        check(len(got) == 1 and got[0].code == 200, "... its BYE: 200")
    c.close()

    # 6. a write ending inside one request, the next write completing it
    #    and holding a whole second one
    c = Tcp(srv.tcp)
    a, ca = opt_msg(c.laddr, srv.tcp, 1)
    b, cb = opt_msg(c.laddr, srv.tcp, 2)
    both = a + b
    c.send(both[:len(a) - 7])
    time.sleep(0.2)
    c.send(both[len(a) - 7:])
    got = responses(c, 2, 10)
    check([r.hdr("call-id") for r in got] == [ca, cb],
          "a request split across writes with the next one behind it: "
          "both answered")
    c.close()

    # 7. an oversized stream: 70 kB of header without an end. libre keeps
    #    up to 64 kB of an unfinished message, then closes the connection
    c = Tcp(srv.tcp)
    c.send(b"OPTIONS sip:x@127.0.0.1 SIP/2.0\r\nX-Endless: " + b"a" * 70000)
    check(c.wait_eof(10), "70 kB of unfinished header: connection closed")
    c.close()


def call_over_tcp(srv, ack=True):
    c = Tcp(srv.tcp)
    inv, cid = fill(INVITE_T, "tcp", c.laddr, srv.tcp)
    c.send(inv)
    r = final_response(c, 10, cid)
    if r is None or r.code != 200:
        raise TestFail("INVITE over TCP got %r" % r)
    if ack:
        c.send(in_dialog(r, "ACK", "tcp", c.laddr, 1))
    return c


def wait_report(srv, cond, timeout):
    deadline = time.monotonic() + timeout
    rep = srv.report()
    while not cond(rep) and time.monotonic() < deadline:
        time.sleep(0.5)
        rep = srv.report()
    return rep


def test_loss(srv):
    # the caller closes after its ACK: with FIN, then with RST
    c = call_over_tcp(srv)
    time.sleep(0.2)
    c.close()
    c = call_over_tcp(srv)
    time.sleep(0.2)
    c.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                   b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()
    # and one that closes at once on the 200, never ACKing it
    c = call_over_tcp(srv, ack=False)
    c.close()

    # redumd hangs up each call after 1 s (uas_hangup_s 1): its BYE needs
    # a new connection to the caller's Contact, which is refused; the two
    # ACKed calls must end by BYE failure, the unACKed one by its ACK
    # timeout (64*T1) or the BYE, whichever comes first
    rep = wait_report(srv, lambda r: r.get("calls_ended", 0) >= 3, 60)
    log("counters: " + ", ".join("%s=%d" % kv for kv in sorted(rep.items())
                                 if kv[1]))
    check(rep.get("calls_connected", 0) >= 2,
          "two calls confirmed by their ACK before the connection went")
    check(rep.get("calls_ended", 0) == 3,
          "all 3 calls ended after the connection loss (%d)" %
          rep.get("calls_ended", 0))
    check(rep.get("dialogs_alive", 0) == 0 and
          rep.get("strans_alive", 0) == 0,
          "no dialog and no server transaction left")
    check(rep.get("req_out.BYE", 0) >= 2,
          "redumd tried to BYE the lost callers (%d BYEs)" %
          rep.get("req_out.BYE", 0))


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 1024
    if hard != resource.RLIM_INFINITY and hard < want:
        raise TestFail("RLIMIT_NOFILE hard limit %d < %d: cannot open %d "
                       "connections (raise it: ulimit -Hn)" %
                       (hard, want, n))
    if soft == resource.RLIM_INFINITY or soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def test_many(srv, n):
    """n connections, each sends an OPTIONS and reads its 200; all stay
    open until every one is answered. At most WINDOW connections are
    waiting for their answer at a time: libre listens with a backlog of 5,
    and a full accept queue makes the kernel drop SYNs (1 s retry)."""
    WINDOW = 4
    sel = selectors.DefaultSelector()
    conns = []
    pending = 0
    answered = 0
    opened = 0
    errors = 0
    t0 = time.monotonic()
    deadline = t0 + 240
    while answered < n and time.monotonic() < deadline:
        while opened < n and pending < WINDOW:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(srv.tcp)
            st = {"s": s, "buf": b"", "sent": False, "done": False}
            sel.register(s, selectors.EVENT_WRITE, st)
            conns.append(st)
            opened += 1
            pending += 1
        for key, ev in sel.select(timeout=1):
            st = key.data
            s = st["s"]
            if not st["sent"]:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    errors += 1
                    sel.unregister(s)
                    pending -= 1
                    st["done"] = True
                    continue
                msg, _ = fill(OPTIONS_T, "tcp", s.getsockname(), srv.tcp)
                s.send(msg)
                st["sent"] = True
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:
                errors += 1
                sel.unregister(s)
                pending -= 1
                st["done"] = True
                continue
            st["buf"] += data
            msgs, st["buf"] = parse_stream(st["buf"])
            if msgs:
                r = Resp(msgs[0])
                if r.code == 200:
                    answered += 1
                else:
                    errors += 1
                sel.unregister(s)   # stays open, no longer read
                pending -= 1
                st["done"] = True
    secs = time.monotonic() - t0
    log("%d connections opened, %d answered 200, %d errors, in %.1f s "
        "(%.0f connections/s)" % (opened, answered, errors, secs,
                                  answered / secs if secs else 0))
    check(answered == n and errors == 0,
          "%d TCP connections open at once, each OPTIONS answered 200" % n)
    # all still open: the server holds n connections now
    alive = sum(1 for st in conns if st["s"].fileno() >= 0)
    check(alive == n, "all %d connections still open on our side" % n)
    rep = srv.report()
    check(rep.get("req_in.OPTIONS", 0) >= n,
          "redumd counted %d OPTIONS" % rep.get("req_in.OPTIONS", 0))
    for st in conns:
        st["s"].close()
    sel.close()


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    exe, what = sys.argv[1], sys.argv[2]
    extra = []
    nofile = None
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    if what == "loss":
        extra = ["--set", "uas_hangup_s=1"]
    if what == "many":
        nofile = raise_nofile(n)
    srv = None
    try:
        srv = Redumd(exe, extra, nofile=nofile)
        {"streams": test_streams, "loss": test_loss,
         "many": lambda s: test_many(s, n)}[what](srv)
        check(srv.alive(), "redumd alive")
        u = Udp(srv.udp)
        r1 = options(u, "udp", srv.udp)
        u.close()
        t = Tcp(srv.tcp)
        r2 = options(t, "tcp", srv.tcp)
        t.close()
        check(r1 is not None and r1.code == 200 and r2 is not None and
              r2.code == 200, "still answers OPTIONS over UDP and TCP")
        rc = srv.stop(60)
        check(rc == 0, "clean graceful stop (exit %d)" % rc)
    except TestFail as e:
        check(False, str(e))
        if srv:
            srv.kill()
    log("%d passed, %d failed" % (results["passed"], results["failed"]))
    return 1 if results["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
