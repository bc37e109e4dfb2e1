#!/usr/bin/env bash
# redumd's sd_notify without libsystemd: with $NOTIFY_SOCKET set (an
# abstract '@' socket, then a path), redumd sends STATUS=serving on ... and
# READY=1 once it serves, and STOPPING=1 at SIGTERM; then it exits 0.
# Each receive waits at most 10 s; redumd is killed if it outlives the test.
#   redumd_sdnotify.sh REDUMD
redumd=$1
exec timeout 60 python3 - "$redumd" <<'PY'
import os, signal, socket, subprocess, sys, tempfile, time

redumd = sys.argv[1]
passed = 0

def run(env_addr, bind_addr, what):
    global passed
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(bind_addr)
    s.settimeout(10)
    env = dict(os.environ, NOTIFY_SOCKET=env_addr)
    p = subprocess.Popen([redumd, "--listen", "udp:127.0.0.1:0"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    msgs = []
    try:
        def until(key):
            end = time.time() + 10
            while time.time() < end:
                msgs.extend(s.recv(4096).decode().split("\n"))
                if key in msgs:
                    return
            raise AssertionError("no %s in %r" % (key, msgs))
        until("READY=1")
        assert any(m.startswith("STATUS=serving on udp:127.0.0.1:") for m in msgs), msgs
        p.send_signal(signal.SIGTERM)
        until("STOPPING=1")
        rc = p.wait(timeout=15)
        assert rc == 0, "exit %d" % rc
        passed += 1
        print("ok %d: %s: READY=1, STATUS, STOPPING=1, exit 0" % (passed, what))
    except Exception as e:
        print("FAIL: %s: %s" % (what, e))
        print("%d passed, 1 failed" % passed)
        sys.exit(1)
    finally:
        if p.poll() is None:
            p.kill()
        s.close()

name = "redumd-test-%d" % os.getpid()
run("@" + name, "\0" + name, "abstract socket")
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "notify.sock")
    run(path, path, "path socket")
print("%d passed, 0 failed" % passed)
PY
