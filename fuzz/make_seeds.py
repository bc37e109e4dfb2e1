#!/usr/bin/env python3
"""Writes fuzz/corpus/fuzz_sip_rx/ from the hardening corpus
(tests/hardening/corpus/*: placeholders filled with fixed loopback values,
Via with rport so answers go back to the harness) and
fuzz/corpus/fuzz_config/ from app/redumd.conf plus a few variants.
Run from anywhere: python3 fuzz/make_seeds.py"""
import hashlib
import os
import re
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "tests", "hardening"))
from siptest import fill  # noqa: E402


def write(d, data):
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


src = os.path.join(root, "tests", "hardening", "corpus")
out = os.path.join(root, "fuzz", "corpus", "fuzz_sip_rx")
for n in sorted(os.listdir(src)):
    if n == "expect.txt":
        continue
    with open(os.path.join(src, n), "rb") as f:
        t = f.read()
    msg, _ = fill(t, "udp", ("127.0.0.1", 5999), ("127.0.0.1", 5060),
                  not n.endswith(".lf"))
    msg = re.sub(rb"hard-\d+-\d+-\d+", b"seed-" + n.encode(), msg)
    msg = re.sub(rb"z9hG4bKb-\d+-\d+-\d+", b"z9hG4bKseed", msg)
    if len(msg) <= 8192:
        write(out, msg)

cfg = os.path.join(root, "app", "redumd.conf")
out = os.path.join(root, "fuzz", "corpus", "fuzz_config")
with open(cfg, "rb") as f:
    conf = f.read()
write(out, conf)
write(out, b"listen udp:127.0.0.1:0\nlisten tcp:[::1]:0\nuas no\n")
write(out, b"give_up_ms 99999999999\nlog_level shouting\nnosuchkey 1\n")
write(out, b"listen\nlisten udp:\nlisten tls:1.2.3.4:5\nuas_reject * 486\n")
write(out, b"# comment only, no final newline")
write(out, b"uas yes\nuas yes\nmetrics 127.0.0.1:0\n\x00\xff\n")
