#!/usr/bin/env python3
"""redumd against real SIP peers on loopback (docs/INTEROP.md).

  interop_test.py REDUMD SCENARIO

Each scenario asserts concrete observations on both sides: baresip's
ctrl_tcp events and its SIP trace, kamailio's log lines, SIPp's exit code,
redumd's final counters and its exit code (0 after SIGTERM, no sanitizer
report). Prints "N passed, N failed" last; exits non-zero on failure.
"""
import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from interop import (Baresip, Fail, Harness, Kamailio, Redumd, SipTls,  # noqa: E402
                     digest_authorization, expect_counter, expect_msg,
                     find_msgs, free_port, header_of, log, make_cert, need,
                     sip_udp_options, wait_for)

REDUMD = None

# baresip's own lines for a registration's outcome (ua.c): "AOR: {0/UDP/v4}
# 200 OK (server) [N binding]" and "AOR: reg: CODE REASON" / "failed"
REG_OK_RE = r"\{0/(UDP|TCP|TLS)/v4\} 200 OK .*\[\d+ binding"
REG_FAIL_RE = r"^.*(registration failed|reg: .*(401|403|407)|\{0/\w+/v4\} (401|403|407)).*$"


def baresip_call_and_hang_up(b, uri, hops_via=None):
    """baresip dials @uri, the call must be established, then baresip
    hangs up; checks baresip's own view of every step in its trace."""
    b.command("dial", uri)
    b.wait_event("CALL_ESTABLISHED", 30, fail_on=("CALL_CLOSED",))
    b.command("hangup")
    ev = b.wait_event("CALL_CLOSED", 30)
    log(f"call closed: {ev.get('param')}")
    b.quit()
    t = b.trace()
    expect_msg(t, "INVITE sent", first_re=r"INVITE ")
    expect_msg(t, "180 to the INVITE", code=180, cseq="INVITE")
    ok = expect_msg(t, "200 to the INVITE", code=200, cseq="INVITE")
    if "application/sdp" not in (ok[0].header("Content-Type") or ""):
        raise Fail(f"200 to the INVITE has no SDP answer: {ok[0].text}")
    expect_msg(t, "ACK sent", first_re=r"ACK ")
    bye = expect_msg(t, "BYE sent", first_re=r"BYE ")
    expect_msg(t, "200 to the BYE", code=200, cseq="BYE")
    if hops_via:
        rr = ok[0].header("Record-Route")
        if not rr or str(hops_via) not in rr:
            raise Fail(f"200 to the INVITE has no Record-Route of the proxy "
                       f"(port {hops_via}): {rr}")
        route = bye[0].header("Route")
        if not route or str(hops_via) not in route:
            raise Fail(f"BYE has no Route through the proxy: {bye[0].text}")
        if not bye[0].dst.endswith(f":{hops_via}"):
            raise Fail(f"BYE was sent to {bye[0].dst}, not the proxy")
    return t


def expect_one_answered_call(c):
    """redumd's final counters for one call it answered and the peer
    ended: INVITE, ACK and BYE in; 180; 200 to the INVITE and the BYE."""
    expect_counter(c, "req_in.INVITE", 1)
    expect_counter(c, "req_in.ACK", 1)
    expect_counter(c, "req_in.BYE", 1)
    expect_counter(c, "resp_out.1xx", 1)
    expect_counter(c, "resp_out.2xx", 2)


# --- scenarios -----------------------------------------------------------

def baresip_calls_redumd(tp):
    def run(h):
        r = Redumd(h, REDUMD, ["--listen", f"{tp}:127.0.0.1:0"])
        b = Baresip(h, "baresip", "<sip:alice@127.0.0.1>;regint=0")
        uri = f"sip:bob@127.0.0.1:{r.port(tp)}"
        if tp != "udp":
            uri += f";transport={tp}"
        t = baresip_call_and_hang_up(b, uri)
        if any(m.tp != tp.upper() for m in t):
            raise Fail(f"a message went over another transport than {tp}: {t}")
        expect_one_answered_call(r.stop())
    return run


def baresip_calls_redumd_via_kamailio(h):
    """kamailio (record-routing proxy) in front of redumd: baresip calls
    sip:bob@kamailio, which relays to redumd (its fallback route); ACK and
    BYE follow the Record-Route through kamailio."""
    r = Redumd(h, REDUMD, ["--listen", "udp:127.0.0.1:0"])
    k = Kamailio(h, fallback=f"127.0.0.1:{r.port('udp')}")
    b = Baresip(h, "baresip", "<sip:alice@127.0.0.1>;regint=0")
    t = baresip_call_and_hang_up(b, f"sip:bob@127.0.0.1:{k.port}", hops_via=k.port)
    for m in t:
        if m.dst.endswith(f":{r.port('udp')}") or m.src.endswith(f":{r.port('udp')}"):
            raise Fail(f"baresip talked to redumd directly: {m}")
    expect_one_answered_call(r.stop())
    kl = k.log_text()
    for meth in ("INVITE", "ACK", "BYE"):
        if not re.search(rf"kam-in {meth} ", kl):
            raise Fail(f"kamailio's log shows no {meth}")
    k.stop()


def sipp_calls_redumd_via_kamailio(h):
    """SIPp's built-in uac places 20 calls through kamailio to redumd."""
    need("sipp")
    r = Redumd(h, REDUMD, ["--listen", "udp:127.0.0.1:0"])
    k = Kamailio(h, fallback=f"127.0.0.1:{r.port('udp')}")
    sport = free_port(("udp",))
    p, logp = h.spawn("sipp", [
        "sipp", f"127.0.0.1:{k.port}", "-sn", "uac", "-s", "redumd",
        "-i", "127.0.0.1", "-p", str(sport), "-r", "10", "-m", "20",
        "-timeout", "60s", "-timeout_error", "-nostdin",
        "-buff_size", "4194304", "-trace_stat", "-stf", h.path("sipp.csv")])
    try:
        rc = p.wait(timeout=90)
    except subprocess.TimeoutExpired:
        raise Fail("sipp still running after 90 s")
    if rc != 0:
        raise Fail(f"sipp exited {rc} (some call failed)")
    c = r.stop()
    expect_counter(c, "req_in.INVITE", 20)
    expect_counter(c, "req_in.ACK", 20)
    expect_counter(c, "req_in.BYE", 20)
    if len(re.findall(r"kam-in INVITE ", k.log_text())) < 20:
        raise Fail("kamailio's log shows fewer than 20 INVITEs")
    k.stop()


def tls_call(h):
    """A call over TLS: redumd on tls:127.0.0.1:0 with a certificate made
    now; baresip dials ;transport=tls, trusting that certificate."""
    cert, _, both = make_cert(h.work)
    r = Redumd(h, REDUMD, ["--listen", "tls:127.0.0.1:0", "--tls-cert", both])
    b = Baresip(h, "baresip", "<sip:alice@127.0.0.1>;regint=0",
                cert=both, cafile=cert)
    t = baresip_call_and_hang_up(b, f"sip:bob@127.0.0.1:{r.port('tls')};transport=tls")
    if any(m.tp != "TLS" for m in t):
        raise Fail(f"a message did not go over TLS: {t}")
    expect_one_answered_call(r.stop())


def tls_options_verified(h):
    """A TLS client that verifies the certificate (CA = the test
    certificate, name = 127.0.0.1 from its subjectAltName) sends OPTIONS;
    redumd answers 200 on the same connection. Then REGISTER with digest
    on that verified connection: 401, 200 with the binding; a wrong
    password gets no 200."""
    cert, _, both = make_cert(h.work)
    r = Redumd(h, REDUMD, ["--listen", "tls:127.0.0.1:0", "--tls-cert", both,
                           "--set", "registrar_users=carol:s3cret"])
    c = SipTls(r.port("tls"), cert)
    subj = dict(x[0] for x in c.peer_cert.get("subject", ()))
    if subj.get("commonName") != "127.0.0.1":
        raise Fail(f"redumd served another certificate: {c.peer_cert}")
    code, text = c.request("OPTIONS", f"sip:redumd@127.0.0.1:{r.port('tls')};transport=tls",
                           "sip:probe@127.0.0.1")
    if code != 200:
        raise Fail(f"OPTIONS over TLS got {code}:\n{text}")

    port = r.port("tls")
    ruri = f"sip:127.0.0.1:{port};transport=tls"
    contact = f"Contact: <sip:carol@127.0.0.1:{c.lport};transport=tls>;expires=300"
    for password, want in (("wrong", 401), ("s3cret", 200)):
        code, text = c.request("REGISTER", ruri, f"sip:carol@127.0.0.1:{port}",
                               extra=(contact,))
        if code != 401:
            raise Fail(f"REGISTER without credentials got {code}, want 401:\n{text}")
        wa = header_of(text, "WWW-Authenticate")
        if not wa or not wa.startswith("Digest "):
            raise Fail(f"401 without a Digest challenge:\n{text}")
        auth = digest_authorization(wa, "REGISTER", ruri, "carol", password)
        code, text = c.request("REGISTER", ruri, f"sip:carol@127.0.0.1:{port}",
                               extra=(contact, "Authorization: " + auth))
        if code != want:
            raise Fail(f"REGISTER with password '{password}' got {code}, "
                       f"want {want}:\n{text}")
    got = header_of(text, "Contact") or ""
    if f"carol@127.0.0.1:{c.lport}" not in got or "expires=" not in got:
        raise Fail(f"200 to the REGISTER does not list the binding:\n{text}")
    c.close()
    expect_counter(r.stop(), "req_in.OPTIONS", 1)


def register_digest(tp, tls=False):
    """baresip registers to redumd's registrar with digest auth: 401 with
    a Digest challenge, then 200 with its binding; redumd holds exactly
    one binding. A second baresip with a wrong password is refused and
    adds none. baresip's un-REGISTER at exit removes the binding."""
    def run(h):
        args = ["--listen", f"{tp}:127.0.0.1:0", "--metrics", "127.0.0.1:0",
                "--set", "registrar_users=alice:secret,bob:hunter2"]
        bkw = {}
        if tls:
            cert, _, both = make_cert(h.work)
            args += ["--tls-cert", both]
            bkw = dict(cert=both, cafile=cert)
        r = Redumd(h, REDUMD, args)
        port = r.port(tp)
        tparam = "" if tp == "udp" else f";transport={tp}"
        b = Baresip(h, "alice", f"<sip:alice@127.0.0.1:{port}{tparam}>;"
                    "auth_pass=secret;regint=120", **bkw)
        b.wait_log("registration", REG_OK_RE, 30, fail_re=REG_FAIL_RE)
        t = b.trace()
        ch = expect_msg(t, "401 to the REGISTER", code=401, cseq="REGISTER")
        wa = ch[0].header("WWW-Authenticate") or ""
        if not wa.startswith("Digest ") or 'realm="redum"' not in wa:
            raise Fail(f"401 has no Digest challenge for realm redum: {wa}")
        regs = expect_msg(t, "REGISTER sent", first_re=r"REGISTER ")
        authed = [m for m in regs if m.header("Authorization")]
        if not authed or 'username="alice"' not in authed[0].header("Authorization"):
            raise Fail(f"baresip sent no REGISTER with alice's credentials: {regs}")
        ok = expect_msg(t, "200 to the REGISTER", code=200, cseq="REGISTER")
        contact = ok[0].header("Contact") or ""
        cport = b.sip_port + 1 if tls else b.sip_port   # baresip: TLS on +1
        if f":{cport}" not in contact or "expires=" not in contact:
            raise Fail(f"200 to the REGISTER does not list baresip's binding "
                       f"(port {cport}) with its expiry: {contact}")
        if any(m.tp != tp.upper() for m in t):
            raise Fail(f"a message did not go over {tp}: {t}")
        r.wait_metric("redumd_registrar_bindings", 1)

        # a wrong password: refused, no binding added
        bad = Baresip(h, "mallory", f"<sip:bob@127.0.0.1:{port}{tparam}>;"
                      "auth_pass=wrong;regint=120", **bkw)
        bad.wait_log("refused registration", REG_FAIL_RE, 40, fail_re=REG_OK_RE)
        bt = bad.trace()
        if find_msgs(bt, code=200, cseq="REGISTER"):
            raise Fail("a REGISTER with a wrong password got 200")
        m = r.wait_metric("redumd_registrar_bindings", 1)
        bad.quit()

        # alice leaves: baresip un-REGISTERs (Expires 0)
        b.quit()
        m = r.wait_metric("redumd_registrar_bindings", 0)
        ch = m.get("redumd_registrar_challenged_total", 0)
        if ch < 2:
            raise Fail(f"redumd counted {ch} challenges, want at least 2")
        t = b.trace()
        unreg = [x for x in find_msgs(t, first_re=r"REGISTER ")
                 if (x.header("Expires") == "0" or "expires=0" in (x.header("Contact") or ""))]
        if not unreg:
            raise Fail("baresip sent no un-REGISTER")
        r.stop()
    return run


def redumd_calls_baresip(h):
    """redumd --call-to: redumd places the call (INVITE with an SDP offer),
    baresip auto-answers; at redumd's graceful shutdown redumd sends the
    BYE and baresip answers 200."""
    b = Baresip(h, "bob", "<sip:bob@127.0.0.1>;regint=0;answermode=auto")
    r = Redumd(h, REDUMD, ["--listen", "udp:127.0.0.1:0", "--metrics", "127.0.0.1:0",
                           "--call-to", f"sip:bob@127.0.0.1:{b.sip_port}"])
    ev = b.wait_event("CALL_ESTABLISHED", 30, fail_on=("CALL_CLOSED",))
    if ev.get("direction") != "incoming":
        raise Fail(f"baresip's call is not incoming: {ev}")
    r.wait_metric("redumd_client_call_up", 1)
    r.stop()
    ev = b.wait_event("CALL_CLOSED", 20)
    log(f"baresip: call closed: {ev.get('param')}")
    t = b.trace()
    rp = r.port("udp")
    inv = expect_msg(t, "INVITE from redumd", first_re=r"INVITE ", from_=rp)
    if "application/sdp" not in (inv[0].header("Content-Type") or ""):
        raise Fail(f"redumd's INVITE has no SDP offer:\n{inv[0].text}")
    ok = expect_msg(t, "200 to redumd's INVITE", code=200, cseq="INVITE", sent_to=rp)
    if "application/sdp" not in (ok[0].header("Content-Type") or ""):
        raise Fail("baresip's 200 has no SDP answer")
    expect_msg(t, "ACK from redumd", first_re=r"ACK ", from_=rp)
    expect_msg(t, "BYE from redumd", first_re=r"BYE ", from_=rp)
    expect_msg(t, "200 to redumd's BYE", code=200, cseq="BYE", sent_to=rp)
    b.quit()


def wait_trace(b, what, timeout=20, **kw):
    """Waits until baresip's trace holds a message matching @kw."""
    found = []

    def pred():
        b._pump(0.1)
        found[:] = find_msgs(b.trace(), **kw)
        return bool(found)
    wait_for(f"{b.label}: {what}", pred, timeout, 0.1)
    return found


def baresip_subscribes_redumd_presence(h):
    """redumd as presence agent between two baresips: bob PUBLISHes his
    pidf; alice SUBSCRIBEs to bob's presence and gets a NOTIFY carrying
    exactly the document bob published; bob leaves (PUBLISH Expires 0):
    alice gets a NOTIFY without it; alice leaves (SUBSCRIBE Expires 0):
    the subscription ends on redumd."""
    r = Redumd(h, REDUMD, ["--listen", "udp:127.0.0.1:0", "--metrics", "127.0.0.1:0"])
    rp = r.port("udp")
    # regint=0: a registering baresip may PUBLISH twice (at start and at
    # REGISTER_OK: two publications) and remove only one at exit
    # (docs/INTEROP.md); without registration it publishes once
    bob = Baresip(h, "bob", f"<sip:bob@127.0.0.1:{rp}>;regint=0;pubint=60",
                  modules=("contact", "presence"))
    pub = wait_trace(bob, "200 to bob's PUBLISH", 30, code=200, cseq="PUBLISH")
    if not pub[0].header("SIP-ETag"):
        raise Fail(f"200 to PUBLISH has no SIP-ETag:\n{pub[0].text}")
    pubs = expect_msg(bob.trace(), "bob's PUBLISH", first_re=r"PUBLISH sip:bob@")
    if len(pubs) != 1:
        raise Fail(f"bob published {len(pubs)} times, the scenario expects once")
    doc = pubs[0].body()
    tuple_id = re.search(r'<tuple id="([^"]+)"', doc)
    if not tuple_id or "<basic>" not in doc:
        raise Fail(f"bob's PUBLISH carries no pidf tuple:\n{pubs[0].text}")
    tuple_id = tuple_id.group(1)

    alice = Baresip(h, "alice", f"<sip:alice@127.0.0.1:{rp}>;regint=0",
                    modules=("contact", "presence"),
                    contacts=[f'"Bob" <sip:bob@127.0.0.1:{rp}>;presence=p2p'])
    wait_trace(alice, "200 to the SUBSCRIBE", 30, code=200, cseq="SUBSCRIBE")
    sub = expect_msg(alice.trace(), "SUBSCRIBE", first_re=r"SUBSCRIBE sip:bob@")
    if (sub[0].header("Event") or "") != "presence":
        raise Fail(f"alice's SUBSCRIBE is not for presence:\n{sub[0].text}")

    def norm(x):
        return re.sub(r"\s+", " ", x).strip()

    def notify_with_doc():
        alice._pump(0.1)
        for n in find_msgs(alice.trace(), first_re=r"NOTIFY ", from_=rp):
            if norm(n.body()) == norm(doc):
                return n
        return None
    n = wait_for("a NOTIFY carrying bob's published document", notify_with_doc, 20)
    if "application/pidf+xml" not in (n.header("Content-Type") or ""):
        raise Fail(f"NOTIFY body is not pidf:\n{n.text}")
    if not (n.header("Subscription-State") or "").startswith("active"):
        raise Fail(f"NOTIFY is not active:\n{n.text}")
    wait_trace(alice, "200 to redumd's NOTIFY", 10, code=200, cseq="NOTIFY", sent_to=rp)
    r.wait_metric('redumd_usages{type="subscription-server",state="active"}', 1)

    # bob leaves: his publication is removed, alice hears of it
    before = len(find_msgs(alice.trace(), first_re=r"NOTIFY ", from_=rp))
    bob.quit()
    unpub = [m for m in find_msgs(bob.trace(), first_re=r"PUBLISH ")
             if m.header("Expires") == "0"]
    if not unpub:
        raise Fail("bob sent no PUBLISH with Expires: 0 at exit")
    wait_for("a NOTIFY after bob's publication ended",
             lambda: (alice._pump(0.1),
                      len(find_msgs(alice.trace(), first_re=r"NOTIFY ", from_=rp)) > before)[1], 20)
    last = find_msgs(alice.trace(), first_re=r"NOTIFY ", from_=rp)[-1]
    if tuple_id in last.text:
        raise Fail(f"NOTIFY after bob left still carries his tuple:\n{last.text}")

    alice.quit()
    unsub = [m for m in find_msgs(alice.trace(), first_re=r"SUBSCRIBE ")
             if m.header("Expires") == "0"]
    if not unsub:
        raise Fail("alice sent no SUBSCRIBE with Expires: 0 at exit")
    fin = find_msgs(alice.trace(), first_re=r"NOTIFY ", from_=rp)[-1]
    if not (fin.header("Subscription-State") or "").startswith("terminated"):
        raise Fail(f"the last NOTIFY does not end the subscription:\n{fin.text}")
    r.wait_metric('redumd_usages{type="subscription-server",state="active"}', 0)
    r.stop()


def redumd_registers_via_kamailio(h):
    """kamailio as registrar/proxy in front of redumd: redumd
    --register-to kamailio (AOR sip:redumd@127.0.0.1); baresip calls
    sip:redumd@kamailio, which finds redumd's binding (no fallback route:
    an unknown user gets 404) and relays; ACK and BYE follow the
    Record-Route. redumd un-REGISTERs at shutdown: kamailio then answers
    404 for sip:redumd."""
    k = Kamailio(h)
    if not (sip_udp_options(k.port, "redumd") or "").startswith("SIP/2.0 404"):
        raise Fail("kamailio knows sip:redumd before redumd registered")
    r = Redumd(h, REDUMD, ["--listen", "udp:127.0.0.1:0", "--metrics", "127.0.0.1:0",
                           "--register-to", f"sip:127.0.0.1:{k.port}"])
    r.wait_metric("redumd_client_registered", 1, 30)
    if not re.search(r"kam-saved sip:redumd@127\.0\.0\.1", k.log_text()):
        raise Fail("kamailio's log shows no saved binding for sip:redumd@127.0.0.1")
    b = Baresip(h, "alice", "<sip:alice@127.0.0.1>;regint=0")
    baresip_call_and_hang_up(b, f"sip:redumd@127.0.0.1:{k.port}", hops_via=k.port)
    if not re.search(r"kam-found sip:(redumd@)?127\.0\.0\.1:" + str(r.port("udp")),
                     k.log_text()):
        raise Fail("kamailio did not route the call by redumd's binding")
    c = r.stop()
    expect_counter(c, "req_in.INVITE", 1)
    expect_counter(c, "req_in.BYE", 1)
    if c.get("req_out.REGISTER", 0) < 2:
        raise Fail(f"redumd sent {c.get('req_out.REGISTER', 0)} REGISTERs, "
                   "want the registration and the un-REGISTER")
    got = sip_udp_options(k.port, "redumd")
    if not (got or "").startswith("SIP/2.0 404"):
        raise Fail(f"after redumd's un-REGISTER kamailio still routes to it: {got}")
    k.stop()


def redumd_calls_baresip_via_kamailio(h):
    """baresip registers at kamailio as alice; redumd --call-to
    sip:alice@kamailio: kamailio finds baresip's binding and relays with
    Record-Route; redumd's ACK and its BYE at shutdown follow that route
    (they reach baresip from kamailio's port)."""
    k = Kamailio(h)
    b = Baresip(h, "alice", f"<sip:alice@127.0.0.1:{k.port}>;regint=120;answermode=auto")
    b.wait_log("registration at kamailio", REG_OK_RE, 30, fail_re=REG_FAIL_RE)
    r = Redumd(h, REDUMD, ["--listen", "udp:127.0.0.1:0", "--metrics", "127.0.0.1:0",
                           "--call-to", f"sip:alice@127.0.0.1:{k.port}"])
    b.wait_event("CALL_ESTABLISHED", 30, fail_on=("CALL_CLOSED",))
    r.wait_metric("redumd_client_call_up", 1)
    r.stop()
    b.wait_event("CALL_CLOSED", 20)
    t = b.trace()
    inv = expect_msg(t, "INVITE relayed by kamailio", first_re=r"INVITE ", from_=k.port)
    if str(k.port) not in (inv[0].header("Record-Route") or ""):
        raise Fail(f"the INVITE has no Record-Route of kamailio:\n{inv[0].text}")
    expect_msg(t, "ACK through kamailio", first_re=r"ACK ", from_=k.port)
    expect_msg(t, "BYE through kamailio", first_re=r"BYE ", from_=k.port)
    expect_msg(t, "200 to the BYE", code=200, cseq="BYE", sent_to=k.port)
    if find_msgs(t, from_=r.port("udp")):
        raise Fail("redumd sent to baresip directly, not along the route")
    kl = k.log_text()
    for meth in ("ACK", "BYE"):
        if not re.search(rf"kam-in {meth} ", kl):
            raise Fail(f"kamailio's log shows no {meth}")
    b.quit()
    k.stop()


def redumd_subscribes_baresip_presence(h):
    """redumd --subscribe-to baresip (its presence module's notifier):
    baresip answers the SUBSCRIBE and NOTIFYs its pidf; redumd's
    subscription is up; at redumd's shutdown it un-SUBSCRIBEs."""
    b = Baresip(h, "alice", "<sip:alice@127.0.0.1>;regint=0",
                modules=("contact", "presence"))
    r = Redumd(h, REDUMD, ["--listen", "udp:127.0.0.1:0", "--metrics", "127.0.0.1:0",
                           "--subscribe-to", f"sip:alice@127.0.0.1:{b.sip_port}"])
    rp = r.port("udp")
    r.wait_metric("redumd_client_subscribed", 1, 30)
    t = b.trace()
    sub = expect_msg(t, "SUBSCRIBE from redumd", first_re=r"SUBSCRIBE ", from_=rp)
    if (sub[0].header("Event") or "") != "presence":
        raise Fail(f"redumd's SUBSCRIBE is not for presence:\n{sub[0].text}")
    expect_msg(t, "2xx to redumd's SUBSCRIBE", first_re=r"SIP/2.0 20[02] ",
               cseq="SUBSCRIBE", sent_to=rp)
    n = expect_msg(t, "NOTIFY to redumd", first_re=r"NOTIFY ", sent_to=rp)
    if "<basic>" not in n[0].text:
        raise Fail(f"baresip's NOTIFY carries no pidf status:\n{n[0].text}")
    r.stop()
    unsub = [m for m in find_msgs(b.trace(), first_re=r"SUBSCRIBE ", from_=rp)
             if m.header("Expires") == "0"]
    if not unsub:
        raise Fail("redumd sent no SUBSCRIBE with Expires: 0 at shutdown")
    b.quit()


def baresip_messages_redumd(h):
    """baresip's contact module sends a MESSAGE to redumd's sink: 200,
    counted once by redumd."""
    r = Redumd(h, REDUMD, ["--listen", "udp:127.0.0.1:0", "--metrics", "127.0.0.1:0"])
    rp = r.port("udp")
    b = Baresip(h, "alice", "<sip:alice@127.0.0.1>;regint=0", modules=("contact",),
                contacts=[f'"Sink" <sip:sink@127.0.0.1:{rp}>'])
    b.command("message", "hello redumd")
    ok = wait_trace(b, "200 to the MESSAGE", 20, code=200, cseq="MESSAGE", from_=rp)
    msg = expect_msg(b.trace(), "MESSAGE sent", first_re=r"MESSAGE sip:sink@", sent_to=rp)
    if "hello redumd" not in msg[0].text:
        raise Fail(f"the MESSAGE does not carry the text:\n{msg[0].text}")
    log(f"MESSAGE answered: {ok[0].first}")
    r.wait_metric("redumd_messages_received_total", 1)
    b.quit()
    r.stop()


SCENARIOS = {
    "baresip_calls_redumd_udp": baresip_calls_redumd("udp"),
    "baresip_calls_redumd_tcp": baresip_calls_redumd("tcp"),
    "baresip_calls_redumd_via_kamailio": baresip_calls_redumd_via_kamailio,
    "sipp_calls_redumd_via_kamailio": sipp_calls_redumd_via_kamailio,
    "tls_call": tls_call,
    "tls_options_verified": tls_options_verified,
    "baresip_registers_redumd_udp": register_digest("udp"),
    "baresip_registers_redumd_tcp": register_digest("tcp"),
    "tls_register_digest": register_digest("tls", tls=True),
    "redumd_calls_baresip": redumd_calls_baresip,
    "baresip_subscribes_redumd_presence": baresip_subscribes_redumd_presence,
    "redumd_registers_via_kamailio": redumd_registers_via_kamailio,
    "redumd_calls_baresip_via_kamailio": redumd_calls_baresip_via_kamailio,
    "redumd_subscribes_baresip_presence": redumd_subscribes_baresip_presence,
    "baresip_messages_redumd": baresip_messages_redumd,
}


def main():
    global REDUMD
    if len(sys.argv) != 3 or sys.argv[2] not in SCENARIOS:
        print(f"usage: {sys.argv[0]} REDUMD SCENARIO\nscenarios: " +
              " ".join(SCENARIOS), file=sys.stderr)
        return 2
    REDUMD = os.path.abspath(sys.argv[1])
    budget = int(os.environ.get("REDUM_INTEROP_BUDGET", "100"))
    return Harness(sys.argv[2], budget).run(SCENARIOS[sys.argv[2]])


if __name__ == "__main__":
    sys.exit(main())
