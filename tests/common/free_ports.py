#!/usr/bin/env python3
"""Free loopback ports for the test scripts (the C twin: rtest_free_port).

    free_ports.py [N] [--span S] [--kinds udp,tcp]

prints N distinct ports P (one line, space separated) where every kind
binds on 127.0.0.1 at P..P+S-1 right now.

Ports come from below the kernel's ephemeral range (ip_local_port_range
starts at 32768): a port the kernel handed out for "bind to 0" can be taken
a moment later by any outgoing connection of a test running side by side,
and CI saw SIPp fail with EADDRINUSE that way. Each run starts at its own
pseudo-random place in [20000, 32000) and walks on, so two scripts rarely
probe the same ports.
"""
import os
import random
import socket
import sys
import time

PORT_LO, PORT_SPAN = 20000, 12000


def _bindable(kind, port):
    t = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
    s = socket.socket(socket.AF_INET, t)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_ports(n=1, span=1, kinds=("udp", "tcp")):
    """@n distinct bases of @span consecutive ports free for each kind."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    cursor = rng.randrange(PORT_SPAN)
    out = []
    for _ in range(PORT_SPAN):
        base = PORT_LO + cursor % PORT_SPAN
        cursor += span
        if base + span > PORT_LO + PORT_SPAN:
            continue
        if all(_bindable(k, p) for p in range(base, base + span)
               for k in kinds):
            out.append(base)
            if len(out) == n:
                return out
    raise OSError("no free loopback port below the ephemeral range")


def main(argv):
    n, span, kinds = 1, 1, ("udp", "tcp")
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--span":
            span = int(args.pop(0))
        elif a == "--kinds":
            kinds = tuple(args.pop(0).split(","))
        else:
            n = int(a)
    print(" ".join(map(str, free_ports(n, span, kinds))))


if __name__ == "__main__":
    main(sys.argv[1:])
