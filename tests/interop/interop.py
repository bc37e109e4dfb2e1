"""Interop harness: redumd against real SIP peers on loopback.

Drives redumd, baresip (headless, through its ctrl_tcp module), kamailio and
SIPp as child processes on 127.0.0.1, every one on a port the kernel picked,
every wait bounded in time, every process stopped by its PID (each runs in a
session of its own, so its process group is ours to kill) on any exit.

A scenario (interop_test.py) raises Fail on the first wrong observation;
the harness then prints the logs of every process and exits 1.
"""
import json
import math
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import wave
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "common"))
from free_ports import free_ports  # noqa: E402

SANITIZER_RE = re.compile(
    r"ERROR: LeakSanitizer|ERROR: AddressSanitizer|runtime error: |"
    r"WARNING: ThreadSanitizer")


class Fail(Exception):
    """A wrong or missing observation: the test fails."""


def log(msg):
    print("interop: " + msg, flush=True)


def need(cmd):
    """The peer is a hard requirement (tools/install-deps --test installs
    it): its absence fails the test, it never skips."""
    # kamailio lives in /usr/sbin, not in every user's PATH
    path = shutil.which(cmd) or shutil.which(
        cmd, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if not path:
        raise Fail(f"'{cmd}' not found: run tools/install-deps --test")
    return path


def free_port(kinds=("udp", "tcp"), span=1):
    """A port P where each of @kinds binds on 127.0.0.1 at P..P+span-1
    (tests/common/free_ports.py). Another process may still take it before
    the peer binds; the peers then fail loudly, never hang."""
    try:
        return free_ports(1, span, kinds)[0]
    except OSError as e:
        raise Fail(str(e))


def tone_wav(path, seconds=60):
    """An 8 kHz mono 16-bit tone: baresip's aufile source ends the call
    when its file ends and rejects other rates, so the file outlasts every
    call of a test (the test hangs up itself)."""
    frames = bytearray()
    one = b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * 440 * i / 8000)))
                   for i in range(8000))
    for _ in range(seconds):
        frames += one
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(bytes(frames))


def make_cert(workdir):
    """A self-signed certificate for 127.0.0.1 (CN and subjectAltName
    IP:127.0.0.1), made now and never stored in the tree. Returns
    (cert.pem, key.pem, cert+key.pem)."""
    need("openssl")
    cert = os.path.join(workdir, "cert.pem")
    key = os.path.join(workdir, "key.pem")
    both = os.path.join(workdir, "cert+key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", key, "-out", cert, "-days", "2",
                        "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=60)
    if r.returncode:
        raise Fail("openssl req failed: " + r.stdout.decode(errors="replace"))
    with open(both, "w") as f:
        f.write(open(cert).read() + open(key).read())
    return cert, key, both


class Harness:
    """Owns the work directory, the watchdog and every child process."""

    def __init__(self, name, budget_s):
        self.name = name
        self.work = tempfile.mkdtemp(prefix=f"redum-interop-{name}-")
        self.procs = []          # (label, Popen, log path)
        self.keep = os.environ.get("REDUM_INTEROP_KEEP")
        signal.signal(signal.SIGALRM, self._watchdog)
        signal.alarm(budget_s)
        self.budget_s = budget_s

    def _watchdog(self, signo, frame):
        raise Fail(f"watchdog: scenario still running after {self.budget_s} s")

    def path(self, *parts):
        return os.path.join(self.work, *parts)

    def spawn(self, label, argv, **kw):
        logp = self.path(label + ".log")
        logf = open(logp, "wb")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                             stderr=subprocess.STDOUT, start_new_session=True,
                             cwd=self.work, **kw)
        logf.close()
        self.procs.append((label, p, logp))
        return p, logp

    def kill_all(self):
        for label, p, _ in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    log(f"{label} (pid {p.pid}) did not die")

    def dump_logs(self):
        for label, p, logp in self.procs:
            print(f"----- {label} (pid {p.pid}, exit {p.poll()}): {logp}")
            try:
                data = open(logp, "rb").read().decode(errors="replace")
            except OSError:
                continue
            data = data.replace("\r", "")
            if len(data) > 40000:
                data = "[...]\n" + data[-40000:]
            print(data)

    def run(self, scenario):
        """Runs scenario(self); prints the verdict; returns the exit code."""
        rc = 1
        try:
            scenario(self)
            rc = 0
        except Fail as e:
            print(f"FAIL: {self.name}: {e}", flush=True)
        except Exception as e:   # a harness bug fails too, never passes
            import traceback
            traceback.print_exc()
            print(f"FAIL: {self.name}: {e!r}", flush=True)
        finally:
            signal.alarm(0)
            self.kill_all()
            if rc:
                self.dump_logs()
            if rc == 0 and not self.keep:
                shutil.rmtree(self.work, ignore_errors=True)
            else:
                print(f"work directory kept: {self.work}")
        print(f"{1 - rc} passed, {rc} failed", flush=True)
        return rc


def wait_for(what, pred, timeout, step=0.05):
    """Polls pred() until it returns a true value (returned), at most
    @timeout seconds: a deadline, never a speed assertion."""
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise Fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(step)


def read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace").replace("\r", "")
    except OSError:
        return ""


class Redumd:
    """redumd with the given flags; listeners from its 'listening' lines."""

    def __init__(self, h, binary, args, label="redumd"):
        self.h = h
        self.label = label
        self.out = h.path(label + ".stdout")
        outf = open(self.out, "wb")
        self.err = h.path(label + ".log")
        errf = open(self.err, "wb")
        env = dict(os.environ)
        self.p = subprocess.Popen([binary] + args, stdin=subprocess.DEVNULL,
                                  stdout=outf, stderr=errf,
                                  start_new_session=True, cwd=h.work, env=env)
        outf.close()
        errf.close()
        h.procs.append((label, self.p, self.err))
        self.listen = {}

        def listening():
            if self.p.poll() is not None:
                raise Fail(f"{label} exited {self.p.returncode} at start")
            found = re.findall(r"^listening (udp|tcp|tls):([0-9.]+):(\d+)$",
                               read_text(self.out), re.M)
            return found
        for tp, addr, port in wait_for(f"{label}'s listening lines", listening, 30):
            self.listen[tp] = int(port)

        # The listeners are up before DUM is: a request in between gets
        # the stack's 501 (seen under TSan). Peers start after 'ready'.
        def ready():
            if self.p.poll() is not None:
                raise Fail(f"{label} exited {self.p.returncode} at start")
            return re.search(r"^redumd: .*\bready\b", self.log_text(), re.M)
        wait_for(f"{label}'s 'ready' line", ready, 30)
        log(f"{label} pid {self.p.pid} listening {self.listen}")

    def port(self, tp):
        if tp not in self.listen:
            raise Fail(f"{self.label} has no {tp} listener")
        return self.listen[tp]

    def log_text(self):
        return read_text(self.err)

    def stop(self, want_rc=0):
        """SIGTERM (graceful shutdown); checks the exit code and that no
        sanitizer report was printed; returns the final counters."""
        self.p.send_signal(signal.SIGTERM)
        try:
            rc = self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            raise Fail(f"{self.label} still running 30 s after SIGTERM")
        text = self.log_text()
        m = SANITIZER_RE.search(text)
        if m:
            raise Fail(f"{self.label}: sanitizer report ({m.group(0)})")
        if rc != want_rc:
            raise Fail(f"{self.label} exited {rc}, want {want_rc}")
        return self.counters(text)

    def metrics(self):
        """redumd's /metrics (needs --metrics 127.0.0.1:0 among the args):
        {name{labels}: value}."""
        import urllib.request
        m = re.search(r"^metrics http:([0-9.]+):(\d+)$", self.log_text(), re.M)
        if not m:
            raise Fail(f"{self.label} printed no 'metrics http:' line")
        url = f"http://{m.group(1)}:{m.group(2)}/metrics"
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                text = r.read().decode()
        except OSError as e:
            raise Fail(f"GET {url}: {e}")
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                k, _, v = line.rpartition(" ")
                try:
                    out[k] = float(v)
                except ValueError:
                    pass
        return out

    def wait_metric(self, name, want, timeout=20):
        """Polls /metrics until @name equals @want (a deadline, not a
        speed assertion); returns the metrics."""
        last = {}

        def ok():
            nonlocal last
            last = self.metrics()
            return last if last.get(name) == want else None
        try:
            return wait_for(f"{self.label} metric {name} == {want}", ok, timeout, 0.2)
        except Fail:
            raise Fail(f"{self.label} metric {name} is {last.get(name)}, "
                       f"want {want} (after {timeout} s)")

    def counters(self, text=None):
        """The `name value` lines redumd prints (the last value wins: the
        final counters are printed after 'redumd: stopped')."""
        text = self.log_text() if text is None else text
        c = {}
        for k, v in re.findall(r"^([A-Za-z_][\w.]*) (\d+)$", text, re.M):
            c[k] = int(v)
        return c


def expect_counter(c, key, want):
    got = c.get(key, 0)
    if got != want:
        raise Fail(f"redumd counter {key} is {got}, want {want}")


def expect_counter_min(c, key, least):
    got = c.get(key, 0)
    if got < least:
        raise Fail(f"redumd counter {key} is {got}, want at least {least}")


# --- baresip -----------------------------------------------------------

TRACE_RE = re.compile(
    r"#\n(UDP|TCP|TLS) (\S+) -> (\S+)\n(.*?)\x1b\[;m", re.S)


class SipMsg:
    def __init__(self, tp, src, dst, text):
        self.tp, self.src, self.dst = tp, src, dst
        self.text = text
        first = text.split("\n", 1)[0].strip()
        self.first = first
        self.is_response = first.startswith("SIP/2.0 ")
        self.code = int(first.split()[1]) if self.is_response else 0
        self.method = None if self.is_response else first.split()[0]
        m = re.search(r"^CSeq:\s*\d+\s+(\w+)", text, re.M | re.I)
        self.cseq_method = m.group(1) if m else None

    def body(self):
        parts = self.text.split("\n\n", 1)
        return parts[1].strip() if len(parts) == 2 else ""

    def header(self, name):
        m = re.search(r"^" + re.escape(name) + r":\s*(.*)$", self.text, re.M | re.I)
        return m.group(1).strip() if m else None

    def __repr__(self):
        return f"<{self.tp} {self.src}->{self.dst} {self.first} ({self.cseq_method})>"


class Baresip:
    """baresip 1.0 headless: config directory written here, commands and
    events through ctrl_tcp (netstring-framed JSON), SIP trace (-s) in its
    log for assertions on the messages themselves."""

    def __init__(self, h, label, aor_line, cert=None, cafile=None,
                 modules=(), contacts=()):
        need("baresip")
        self.h = h
        self.label = label
        self.dir = h.path(label)
        os.makedirs(self.dir)
        wav = h.path("tone8k.wav")
        if not os.path.exists(wav):
            tone_wav(wav)
        # baresip 1.0 always listens on UDP and TCP at sip_listen's port
        # and on TLS at the next one (it has no sip_transports key)
        self.sip_port = free_port(("udp", "tcp"), 2)
        mine = {self.sip_port, self.sip_port + 1}
        self.ctrl_port = free_port(("tcp",))
        while self.ctrl_port in mine:
            self.ctrl_port = free_port(("tcp",))
        mine.add(self.ctrl_port)
        # RTP: baresip tries random ports of the range (at call time)
        rtp = min(free_port(("udp",)), 65535 - 60)
        while any(rtp <= p <= rtp + 60 for p in mine):
            rtp = min(free_port(("udp",)), 65535 - 60)
        lines = [
            "poll_method epoll",
            f"sip_listen 127.0.0.1:{self.sip_port}",
            "net_interface 127.0.0.1",
            "audio_player aubridge,null",
            f"audio_source aufile,{wav}",
            "audio_alert aubridge,null",
            f"rtp_ports {rtp}-{rtp + 60}",
            "module_path /usr/lib/baresip/modules",
            "module g711.so",
            "module aufile.so",
            "module aubridge.so",
            "module_tmp uuid.so",
            "module_tmp account.so",
            "module_app menu.so",        # the dial/hangup/quit commands
            "module_app ctrl_tcp.so",
            f"ctrl_tcp_listen 127.0.0.1:{self.ctrl_port}",
        ]
        for m in modules:
            lines.append(f"module_app {m}.so")
        if cert:
            lines.append(f"sip_certificate {cert}")
        if cafile:
            lines.append(f"sip_cafile {cafile}")
        with open(os.path.join(self.dir, "config"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(self.dir, "accounts"), "w") as f:
            f.write(aor_line + "\n")
        with open(os.path.join(self.dir, "contacts"), "w") as f:
            for c in contacts:
                f.write(c + "\n")
        self.p, self.logp = h.spawn(label, ["baresip", "-f", self.dir, "-s"])
        self.sock = None
        self.buf = b""
        self.events = []       # every event seen, in order
        self.pending = []      # events not yet consumed by wait_event
        self.token = 0

        def connect():
            if self.p.poll() is not None:
                raise Fail(f"{label} exited {self.p.returncode} at start")
            try:
                return socket.create_connection(("127.0.0.1", self.ctrl_port), 1)
            except OSError:
                return None
        self.sock = wait_for(f"{label}'s ctrl_tcp", connect, 30, 0.1)
        log(f"{label} pid {self.p.pid} sip {self.sip_port} ctrl {self.ctrl_port}")

    def _read(self, timeout):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return []
        d = self.sock.recv(65536)
        if not d:
            raise Fail(f"{self.label} closed its ctrl_tcp connection "
                       f"(exit {self.p.poll()})")
        self.buf += d
        msgs = []
        while True:
            m = re.match(rb"(\d+):", self.buf)
            if not m:
                break
            n = int(m.group(1))
            start = m.end()
            if len(self.buf) < start + n + 1:
                break
            msgs.append(json.loads(self.buf[start:start + n]))
            self.buf = self.buf[start + n + 1:]
        return msgs

    def _pump(self, timeout):
        out = []
        for m in self._read(timeout):
            if m.get("event"):
                self.events.append(m)
                self.pending.append(m)
            out.append(m)
        return out

    def command(self, cmd, params="", timeout=15):
        self.token += 1
        tok = f"t{self.token}"
        d = json.dumps({"command": cmd, "params": params, "token": tok}).encode()
        self.sock.sendall(str(len(d)).encode() + b":" + d + b",")
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for m in self._pump(0.2):
                if m.get("response") and m.get("token") == tok:
                    if not m.get("ok"):
                        raise Fail(f"{self.label}: command {cmd} {params} "
                                   f"failed: {m.get('data')}")
                    return m.get("data", "")
        raise Fail(f"{self.label}: no response to {cmd} in {timeout} s")

    def wait_event(self, etype, timeout=20, fail_on=()):
        """The next event of type @etype (earlier ones of other types are
        kept for later waits); an event in @fail_on fails the test."""
        end = time.monotonic() + timeout
        while True:
            for i, e in enumerate(self.pending):
                if e.get("type") in fail_on:
                    raise Fail(f"{self.label}: got {e.get('type')} "
                               f"({e.get('param')}) while waiting for {etype}")
                if e.get("type") == etype:
                    del self.pending[i]
                    return e
            if time.monotonic() > end:
                seen = [e.get("type") for e in self.events]
                raise Fail(f"{self.label}: no {etype} event in {timeout} s "
                           f"(events seen: {seen})")
            self._pump(0.2)

    def wait_log(self, what, regex, timeout=20, fail_re=None):
        """Waits until baresip's output matches @regex (for what happens
        before ctrl_tcp has a client: events are not queued for later
        clients); @fail_re matching first fails the test."""
        end = time.monotonic() + timeout
        while True:
            text = read_text(self.logp)
            if fail_re:
                f = re.search(fail_re, text, re.M)
                if f:
                    raise Fail(f"{self.label}: '{f.group(0)}' while waiting for {what}")
            m = re.search(regex, text, re.M)
            if m:
                return m
            if time.monotonic() > end:
                raise Fail(f"{self.label}: no {what} in {timeout} s")
            if self.p.poll() is not None:
                raise Fail(f"{self.label} exited {self.p.returncode} waiting for {what}")
            self._pump(0.2)

    def quit(self, timeout=20):
        """Asks baresip to stop (it ends its calls and unregisters) and
        waits for the process to exit."""
        try:
            self.command("quit", timeout=timeout)
        except Fail:
            if self.p.poll() is None:
                raise
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Fail(f"{self.label} still running {timeout} s after quit")

    def trace(self):
        """Every SIP message of baresip's trace, in order."""
        text = read_text(self.logp)
        return [SipMsg(*m) for m in TRACE_RE.findall(text)]


def find_msgs(msgs, first_re=None, cseq=None, code=None, sent_to=None,
              from_=None):
    out = []
    for m in msgs:
        if first_re and not re.match(first_re, m.first):
            continue
        if cseq and m.cseq_method != cseq:
            continue
        if code is not None and m.code != code:
            continue
        if sent_to and not m.dst.endswith(":" + str(sent_to)):
            continue
        if from_ and not m.src.endswith(":" + str(from_)):
            continue
        out.append(m)
    return out


def expect_msg(msgs, what, **kw):
    found = find_msgs(msgs, **kw)
    if not found:
        raise Fail(f"trace has no {what}; trace: {msgs}")
    return found


# --- kamailio ----------------------------------------------------------

KAMAILIO_MODULES = ["kex", "corex", "tm", "tmx", "sl", "rr", "pv", "maxfwd",
                    "usrloc", "registrar", "textops", "siputils", "xlog"]


class Kamailio:
    """kamailio 5.6 as registrar (usrloc in memory) and record-routing
    proxy: REGISTER -> save("location"); a new request -> lookup("location")
    and t_relay, or, if @fallback is set ("127.0.0.1:PORT"), relay to it
    when the lookup finds nothing (SIPp's built-in uac ignores
    Record-Route, so in-dialog requests without a Route go there too).
    One UDP worker: with two, the 180 and the 200 of one call are relayed
    by different processes and can swap, and SIPp's built-in uac then
    fails the call (docs/INTEROP.md)."""

    def __init__(self, h, label="kamailio", fallback=None):
        kam = need("kamailio")
        self.h = h
        self.port = free_port(("udp", "tcp"))
        fb_new = (f'$du = "sip:{fallback}";' if fallback else
                  'sl_send_reply("404", "Not Found"); exit;')
        fb_dlg = (f'$du = "sip:{fallback}"; t_relay(); exit;' if fallback else "")
        mods = "\n".join(f'loadmodule "{m}.so"' for m in KAMAILIO_MODULES)
        cfg = f"""#!KAMAILIO
debug=2
log_stderror=yes
fork=yes
children=1
tcp_children=1
listen=udp:127.0.0.1:{self.port}
listen=tcp:127.0.0.1:{self.port}
alias="127.0.0.1:{self.port}"
auto_aliases=no
dns=no
rev_dns=no
use_dns_cache=off
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
{mods}
modparam("usrloc", "db_mode", 0)
request_route {{
  xlog("L_NOTICE", "kam-in $rm $ru from $proto:$si:$sp\\n");
  if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
  if (is_method("OPTIONS") && $rU == "kamailio-probe") {{ sl_send_reply("200", "Probe"); exit; }}
  if (has_totag()) {{
    if (loose_route()) {{ t_relay(); exit; }}
    if (is_method("ACK") && t_check_trans()) {{ t_relay(); exit; }}
    {fb_dlg}
    sl_send_reply("404", "Not here");
    exit;
  }}
  if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
  if (is_method("REGISTER")) {{
    if (save("location")) {{ xlog("L_NOTICE", "kam-saved $tu\\n"); }}
    exit;
  }}
  record_route();
  if (lookup("location")) {{
    xlog("L_NOTICE", "kam-found $ru\\n");
  }} else {{
    {fb_new}
  }}
  xlog("L_NOTICE", "kam-relay $rm $ru du=$du\\n");
  if (!t_relay()) {{ sl_reply_error(); }}
}}
"""
        self.cfg = h.path(label + ".cfg")
        with open(self.cfg, "w") as f:
            f.write(cfg)
        chk = subprocess.run([kam, "-c", "-f", self.cfg],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=60)
        if chk.returncode:
            raise Fail("kamailio -c rejects the config:\n" +
                       chk.stdout.decode(errors="replace"))
        # -DD: no daemon, children stay in our session (killed by its id)
        self.p, self.logp = h.spawn(label, [
            kam, "-f", self.cfg, "-DD", "-E", "-w", h.work, "-Y", h.work,
            "-P", h.path(label + ".pid"), "-m", "64", "-M", "8"])

        # ready when it answers its own probe (answered there, never relayed)
        def ready():
            if self.p.poll() is not None:
                raise Fail(f"kamailio exited {self.p.returncode} at start")
            r = sip_udp_options(self.port, "kamailio-probe", timeout=0.5)
            return r
        wait_for("kamailio to answer", ready, 30, 0.2)
        log(f"{label} pid {self.p.pid} on udp/tcp {self.port}")

    def log_text(self):
        return read_text(self.logp)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            raise Fail("kamailio still running 20 s after SIGTERM")


def sip_udp_options(port, user, timeout=2.0):
    """Sends one OPTIONS over UDP to 127.0.0.1:@port; returns the first
    response line, or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    lp = s.getsockname()[1]
    branch = "z9hG4bK" + os.urandom(6).hex()
    msg = (f"OPTIONS sip:{user}@127.0.0.1:{port} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{lp};branch={branch};rport\r\n"
           f"Max-Forwards: 5\r\n"
           f"From: <sip:probe@127.0.0.1>;tag={os.urandom(4).hex()}\r\n"
           f"To: <sip:{user}@127.0.0.1>\r\n"
           f"Call-ID: {os.urandom(8).hex()}\r\n"
           f"CSeq: 1 OPTIONS\r\n"
           f"Content-Length: 0\r\n\r\n")
    try:
        s.sendto(msg.encode(), ("127.0.0.1", port))
        s.settimeout(timeout)
        d, _ = s.recvfrom(65535)
        return d.decode(errors="replace").split("\r\n", 1)[0]
    except OSError:
        return None
    finally:
        s.close()


# --- a SIP client over TLS (python's ssl), for what baresip cannot show --

class SipTls:
    """One TLS connection to 127.0.0.1:@port that verifies the server's
    certificate against @cafile and its subjectAltName against 127.0.0.1
    (a certificate that does not match fails the handshake)."""

    def __init__(self, port, cafile, timeout=10):
        import ssl
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
        raw = socket.create_connection(("127.0.0.1", port), timeout)
        try:
            self.s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        except (ssl.SSLError, OSError) as e:
            raw.close()
            raise Fail(f"TLS handshake with 127.0.0.1:{port} failed: {e}")
        self.s.settimeout(timeout)
        self.lport = self.s.getsockname()[1]
        self.peer_cert = self.s.getpeercert()
        self.buf = b""
        self.cseq = 0
        self.call_id = os.urandom(8).hex()
        self.tag = os.urandom(4).hex()

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass

    def request(self, method, ruri, to, extra=(), body=b"", ctype=None):
        self.cseq += 1
        branch = "z9hG4bK" + os.urandom(6).hex()
        hdrs = [f"{method} {ruri} SIP/2.0",
                f"Via: SIP/2.0/TLS 127.0.0.1:{self.lport};branch={branch};rport",
                "Max-Forwards: 70",
                f"From: <{to}>;tag={self.tag}",
                f"To: <{to}>",
                f"Call-ID: {self.call_id}",
                f"CSeq: {self.cseq} {method}"]
        hdrs += list(extra)
        if ctype:
            hdrs.append(f"Content-Type: {ctype}")
        hdrs.append(f"Content-Length: {len(body)}")
        self.s.sendall(("\r\n".join(hdrs) + "\r\n\r\n").encode() + body)
        return self.response()

    def response(self):
        """The next final response (provisional ones skipped)."""
        while True:
            while b"\r\n\r\n" not in self.buf:
                d = self.s.recv(65536)
                if not d:
                    raise Fail("TLS connection closed before a response")
                self.buf += d
            head, rest = self.buf.split(b"\r\n\r\n", 1)
            text = head.decode(errors="replace")
            m = re.search(r"^(?:Content-Length|l):\s*(\d+)", text, re.M | re.I)
            n = int(m.group(1)) if m else 0
            while len(rest) < n:
                d = self.s.recv(65536)
                if not d:
                    raise Fail("TLS connection closed inside a body")
                rest += d
            self.buf = rest[n:]
            code = int(text.split()[1])
            if code >= 200:
                return code, text


def digest_authorization(challenge, method, uri, user, password):
    """The Authorization value answering a WWW-Authenticate Digest
    challenge (MD5, qop=auth when offered) - RFC 2617/7616."""
    import hashlib
    params = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge.split(" ", 1)[1]))
    realm, nonce = params["realm"], params["nonce"]
    ha1 = hashlib.md5(f"{user}:{realm}:{password}".encode()).hexdigest()
    ha2 = hashlib.md5(f"{method}:{uri}".encode()).hexdigest()
    out = (f'Digest username="{user}", realm="{realm}", nonce="{nonce}", '
           f'uri="{uri}", algorithm=MD5')
    if "qop" in params and "auth" in params["qop"].split(","):
        nc, cnonce = "00000001", os.urandom(4).hex()
        resp = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
        out += f', qop=auth, nc={nc}, cnonce="{cnonce}"'
    else:
        resp = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
    out += f', response="{resp}"'
    if "opaque" in params:
        out += f', opaque="{params["opaque"]}"'
    return out


def header_of(text, name):
    m = re.search(r"^" + re.escape(name) + r":\s*(.*)$", text, re.M | re.I)
    return m.group(1).strip() if m else None
