"""A minimal authoritative DNS server over UDP for the outbound tests (MX resolution).

Answers MX queries from a table given on the command line, NXDOMAIN (no answer) for
everything else. Usage: dns_server.py PORT domain=pref:host[,pref:host...] ...
Prints "ready" once bound.
"""
import socket
import struct
import sys


def parse_name(msg, i):
    labels = []
    while True:
        n = msg[i]
        if n == 0:
            return ".".join(labels), i + 1
        labels.append(msg[i + 1:i + 1 + n].decode())
        i += 1 + n


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def main():
    port = int(sys.argv[1])
    table = {}
    for spec in sys.argv[2:]:
        dom, rest = spec.split("=", 1)
        table[dom.lower()] = [(int(p), h) for p, h in (x.split(":", 1) for x in rest.split(","))]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))
    print("ready", flush=True)
    while True:
        msg, peer = s.recvfrom(4096)
        if len(msg) < 12:
            continue
        qid, flags, qd = struct.unpack(">HHH", msg[:6])
        name, end = parse_name(msg, 12)
        qtype, qclass = struct.unpack(">HH", msg[end:end + 4])
        question = msg[12:end + 4]
        answers = b""
        count = 0
        records = table.get(name.lower()) if qtype == 15 else None
        for pref, host in records or []:
            rdata = struct.pack(">H", pref) + encode_name(host)
            answers += b"\xc0\x0c" + struct.pack(">HHIH", 15, 1, 60, len(rdata)) + rdata
            count += 1
        rcode = 0 if name.lower() in table else 3
        hdr = struct.pack(">HHHHHH", qid, 0x8400 | rcode, 1, count, 0, 0)
        s.sendto(hdr + question + answers, peer)


if __name__ == "__main__":
    main()
