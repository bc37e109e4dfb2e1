"""Helpers of the hardening tests: start redumd on free loopback ports,
build requests from corpus templates, read SIP responses over UDP and TCP.

Every wait is bounded; a helper that gives up raises TestFail.
"""
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time


class TestFail(Exception):
    pass


def log(*a):
    print(*a, flush=True)


class Redumd:
    """redumd on udp:127.0.0.1:0 and tcp:127.0.0.1:0; its stderr goes to
    ours (so ctest sees sanitizer reports)."""

    def __init__(self, exe, extra=(), nofile=None):
        def preexec():
            if nofile:
                import resource
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
        args = [exe, "--listen", "udp:127.0.0.1:0",
                "--listen", "tcp:127.0.0.1:0", "--give-up-ms", "2000"]
        args += list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE,
                                     preexec_fn=preexec)
        # redumd's stderr: echoed (ctest looks for sanitizer reports in
        # our output) and kept for report()
        self.errlines = []
        self.errlock = threading.Lock()
        self.errthread = threading.Thread(target=self._read_err,
                                          daemon=True)
        self.errthread.start()
        self.udp = self.tcp = None
        deadline = time.monotonic() + 20
        buf = b""
        fd = self.proc.stdout.fileno()
        while (self.udp is None or self.tcp is None):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                self.kill()
                raise TestFail("redumd did not report its listeners")
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                continue
            buf += chunk
            for m in re.finditer(rb"listening (udp|tcp):([0-9.]+):([0-9]+)",
                                 buf):
                addr = (m.group(2).decode(), int(m.group(3)))
                if m.group(1) == b"udp":
                    self.udp = addr
                else:
                    self.tcp = addr
        # redumd prints its listeners before DUM has joined the stack (a
        # request then gets the stack's 501): ready once OPTIONS gets 200
        while True:
            u = Udp(self.udp)
            r = options(u, "udp", self.udp, 0.5)
            u.close()
            if r is not None and r.code == 200:
                break
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.kill()
                raise TestFail("redumd does not answer OPTIONS with 200")

    def _read_err(self):
        for line in self.proc.stderr:
            line = line.decode("utf-8", "replace").rstrip("\n")
            sys.stdout.write("redumd| " + line + "\n")
            sys.stdout.flush()
            with self.errlock:
                self.errlines.append(line)

    def report(self, settle=0.3):
        """SIGUSR1, then the `name value` lines of the state report that
        follows (redumd's roles, stack and DUM counters), as a dict."""
        with self.errlock:
            start = len(self.errlines)
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(settle)
            with self.errlock:
                lines = self.errlines[start:]
            if any(ln.startswith("redumd: dum counters") for ln in lines):
                break
        else:
            raise TestFail("no state report from redumd")
        out = {}
        for ln in lines:
            m = re.match(r"^([A-Za-z_.\[\]0-9-]+) (-?\d+)$", ln)
            if m:
                out[m.group(1)] = int(m.group(2))
        return out

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=30):
        """SIGTERM, then the exit code (0 = clean graceful stop)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFail("redumd did not stop within %d s" % timeout)
        self.errthread.join(10)
        return rc

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


_seq = [0]


def uniq(prefix):
    _seq[0] += 1
    return "%s-%d-%d-%d" % (prefix, os.getpid(), _seq[0],
                            int(time.monotonic() * 1000) % 100000)


def fill(template, tp, laddr, raddr, crlf=True):
    """Substitutes the placeholders of a corpus template (bytes):
    $LOCAL_IP $LOCAL_PORT $REMOTE_IP $REMOTE_PORT $TRANSPORT (UDP/TCP)
    $transport (udp/tcp) $CALL_ID $BRANCH $PAD(n) (n 'a's) and, last,
    $CLEN (the length of the body after the first empty line).
    Bare LFs become CRLF unless crlf is False."""
    call_id = uniq("hard").encode()
    branch = ("z9hG4bK" + uniq("b")).encode()
    s = template
    s = re.sub(rb"\$PAD\((\d+)\)", lambda m: b"a" * int(m.group(1)), s)
    s = re.sub(rb"\$REPEAT\((\d+),([^)]*)\)",
               lambda m: b"".join(m.group(2).replace(b"\\n", b"\n")
                                  .replace(b"$N", str(i).encode())
                                  for i in range(int(m.group(1)))), s)
    rep = {b"$LOCAL_IP": laddr[0].encode(),
           b"$LOCAL_PORT": str(laddr[1]).encode(),
           b"$REMOTE_IP": raddr[0].encode(),
           b"$REMOTE_PORT": str(raddr[1]).encode(),
           b"$TRANSPORT": tp.upper().encode(),
           b"$transport": tp.lower().encode(),
           b"$CALL_ID": call_id,
           b"$BRANCH": branch}
    for k, v in rep.items():
        s = s.replace(k, v)
    if crlf:
        s = re.sub(rb"(?<!\r)\n", b"\r\n", s)
    if b"$CLEN" in s:
        sep = s.find(b"\r\n\r\n")
        sep = len(s) if sep < 0 else sep + 4
        body_len = len(s) - sep
        s = s.replace(b"$CLEN", str(body_len).encode())
        # the placeholder's own length differs from the number's
        sep = s.find(b"\r\n\r\n") + 4
        assert len(s) - sep == body_len
    return s, call_id.decode()


class Resp:
    def __init__(self, raw):
        self.raw = raw
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        m = re.match(rb"SIP/2\.0 (\d{3}) ?(.*)", lines[0])
        if not m:
            raise TestFail("not a SIP response: %r" % raw[:200])
        self.code = int(m.group(1))
        self.reason = m.group(2).decode("latin-1")
        self.hdrs = []
        for ln in lines[1:]:
            name, _, val = ln.partition(b":")
            self.hdrs.append((name.strip().decode("latin-1").lower(),
                              val.strip().decode("latin-1")))

    def hdr(self, name, default=None):
        compact = {"call-id": "i", "via": "v", "from": "f", "to": "t",
                   "contact": "m", "cseq": "cseq",
                   "content-length": "l"}.get(name)
        for n, v in self.hdrs:
            if n == name or n == compact:
                return v
        return default

    def all(self, name):
        return [v for n, v in self.hdrs if n == name]

    def __repr__(self):
        return "%d %s" % (self.code, self.reason)


def parse_stream(buf):
    """Splits complete SIP messages off a TCP byte stream (Content-Length
    framing); returns (messages, rest). Leading CRLFs are keep-alives and
    are returned as the message b"\\r\\n"."""
    out = []
    while True:
        if buf.startswith(b"\r\n"):
            out.append(b"\r\n")
            buf = buf[2:]
            continue
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            break
        m = re.search(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*(\d+)",
                      buf[:end + 2], re.I)
        clen = int(m.group(1)) if m else 0
        total = end + 4 + clen
        if len(buf) < total:
            break
        out.append(buf[:total])
        buf = buf[total:]
    return out, buf


class Udp:
    def __init__(self, raddr):
        self.raddr = raddr
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.laddr = self.s.getsockname()

    def send(self, data):
        self.s.sendto(data, self.raddr)

    def recv(self, timeout):
        """One response, or None after timeout seconds."""
        r, _, _ = select.select([self.s], [], [], max(timeout, 0))
        if not r:
            return None
        data, _ = self.s.recvfrom(65536)
        return Resp(data)

    def close(self):
        self.s.close()


class Tcp:
    def __init__(self, raddr, timeout=5):
        self.raddr = raddr
        self.s = socket.create_connection(raddr, timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.laddr = self.s.getsockname()
        self.buf = b""
        self.eof = False
        self.msgs = []

    def send(self, data):
        self.s.sendall(data)

    def _pump(self, timeout):
        r, _, _ = select.select([self.s], [], [], max(timeout, 0))
        if not r:
            return False
        try:
            data = self.s.recv(65536)
        except (ConnectionResetError, TimeoutError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        msgs, self.buf = parse_stream(self.buf)
        self.msgs += msgs
        return True

    def recv_raw(self, timeout):
        """One message (bytes; b"\\r\\n" for a keep-alive pong), or None
        after timeout seconds or at EOF."""
        deadline = time.monotonic() + timeout
        while not self.msgs and not self.eof:
            if not self._pump(deadline - time.monotonic()):
                if time.monotonic() >= deadline:
                    break
        return self.msgs.pop(0) if self.msgs else None

    def recv(self, timeout):
        raw = self.recv_raw(timeout)
        if raw is None or raw == b"\r\n":
            return raw and None
        return Resp(raw)

    def wait_eof(self, timeout):
        deadline = time.monotonic() + timeout
        while not self.eof and time.monotonic() < deadline:
            self._pump(deadline - time.monotonic())
        return self.eof

    def close(self):
        self.s.close()


def final_response(conn, timeout, call_id=None):
    """The first final response (>= 200) on conn, skipping provisionals
    and (if call_id is given) responses of other calls; None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        r = conn.recv(left)
        if r is None:
            if isinstance(conn, Tcp) and conn.eof:
                return None
            continue
        if call_id and r.hdr("call-id") not in (None, call_id):
            continue
        if r.code >= 200:
            return r


def options(conn, tp, raddr, timeout=10):
    """A valid OPTIONS on conn; returns its final response or None."""
    msg, cid = fill(OPTIONS_T, tp, conn.laddr, raddr)
    conn.send(msg)
    return final_response(conn, timeout, cid)


OPTIONS_T = b"""OPTIONS sip:hardening@$REMOTE_IP:$REMOTE_PORT SIP/2.0
Via: SIP/2.0/$TRANSPORT $LOCAL_IP:$LOCAL_PORT;branch=$BRANCH;rport
Max-Forwards: 70
From: <sip:probe@$LOCAL_IP:$LOCAL_PORT>;tag=probe1
To: <sip:hardening@$REMOTE_IP:$REMOTE_PORT>
Call-ID: $CALL_ID
CSeq: 1 OPTIONS
Content-Length: 0

"""


def in_dialog(resp, method, tp, laddr, cseq, branch=None):
    """ACK (of a 2xx) or BYE in the dialog a 2xx to our INVITE set up:
    Request-URI from its Contact, tags from its From/To."""
    m = re.search(r"<([^>]+)>", resp.hdr("contact", ""))
    target = m.group(1) if m else resp.hdr("contact", "")
    branch = branch or "z9hG4bK" + uniq("d")
    return ("%s %s SIP/2.0\r\n"
            "Via: SIP/2.0/%s %s:%d;branch=%s;rport\r\n"
            "Max-Forwards: 70\r\n"
            "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n"
            "Content-Length: 0\r\n\r\n" %
            (method, target, tp.upper(), laddr[0], laddr[1], branch,
             resp.hdr("from"), resp.hdr("to"), resp.hdr("call-id"),
             cseq, method)).encode()


def fail(msg):
    log("FAIL: " + msg)
    sys.exit(1)
