#!/usr/bin/env python3
"""Build the fuzz targets' seed corpora from the recorded traces in fixtures/kernel.

    python3 fuzz/make-corpus.py            # writes fuzz/corpus/<target>/ (not committed)

pipeline:    each trace cut to its first 40 frames (pcap as recorded), the same frames
             big-endian, with nanosecond timestamps, as pcapng, and gzip-compressed;
tcp_options: one TCP option list of each shape (kinds and lengths) in the traces;
segments:    a few byte strings from a fixed seed (arbitrary reads any bytes as a scenario).

Deterministic: the same fixtures give the same files, named by their content's hash.
"""

import gzip
import hashlib
import os
import random
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures", "kernel")
OUT = os.path.join(ROOT, "fuzz", "corpus")
FRAMES = 40


def read_pcap(data):
    """(linktype, nanos, [(secs, frac, data, orig_len)]) of a little- or big-endian pcap."""
    magic = data[:4]
    order = {b"\xd4\xc3\xb2\xa1": ("<", False), b"\x4d\x3c\xb2\xa1": ("<", True),
             b"\xa1\xb2\xc3\xd4": (">", False), b"\xa1\xb2\x3c\x4d": (">", True)}[magic]
    e, nanos = order
    linktype = struct.unpack(e + "I", data[20:24])[0]
    records, at = [], 24
    while at + 16 <= len(data):
        secs, frac, caplen, orig = struct.unpack(e + "IIII", data[at:at + 16])
        records.append((secs, frac, data[at + 16:at + 16 + caplen], orig))
        at += 16 + caplen
    return linktype, nanos, records


def write_pcap(linktype, records, big=False, nanos=False):
    e = ">" if big else "<"
    magic = 0xA1B23C4D if nanos else 0xA1B2C3D4
    out = [struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for secs, usec, frame, orig in records:
        frac = usec * 1000 if nanos else usec
        out.append(struct.pack(e + "IIII", secs, frac, len(frame), orig) + frame)
    return b"".join(out)


def block(kind, body, e="<"):
    body += b"\0" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack(e + "II", kind, total) + body + struct.pack(e + "I", total)


def write_pcapng(linktype, records):
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    # if_tsresol = 9 (ns), then end of options.
    idb = block(1, struct.pack("<HHI", linktype, 0, 262144) + struct.pack("<HHB3x", 9, 1, 9)
                + struct.pack("<HH", 0, 0))
    out = [shb, idb]
    for secs, usec, frame, orig in records:
        units = secs * 1_000_000_000 + usec * 1000
        out.append(block(6, struct.pack("<IIIII", 0, units >> 32, units & 0xFFFFFFFF,
                                         len(frame), orig) + frame))
    return b"".join(out)


def tcp_options(linktype, frame):
    """The option bytes of a TCP segment over Ethernet or Linux SLL, else None."""
    if linktype == 1:
        at, ethertype = 14, struct.unpack(">H", frame[12:14])[0]
    elif linktype == 113:
        at, ethertype = 16, struct.unpack(">H", frame[14:16])[0]
    else:
        return None
    ip = frame[at:]
    if ethertype == 0x0800 and len(ip) >= 20 and ip[9] == 6:
        tcp = ip[(ip[0] & 0x0F) * 4:]
    elif ethertype == 0x86DD and len(ip) >= 40 and ip[6] == 6:
        tcp = ip[40:]
    else:
        return None
    if len(tcp) < 20:
        return None
    return tcp[20:(tcp[12] >> 4) * 4]


def shape(opts):
    """The kinds and lengths of an option list (its values aside)."""
    out, at = [], 0
    while at < len(opts):
        kind = opts[at]
        if kind in (0, 1) or at + 1 >= len(opts):
            out.append((kind,))
            at += 1
            continue
        out.append((kind, opts[at + 1]))
        at += max(opts[at + 1], 2)
    return tuple(out)


def save(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def main():
    if not os.path.isdir(FIXTURES):
        sys.exit(f"no traces in {FIXTURES}")
    options = {}
    for name in sorted(os.listdir(FIXTURES)):
        if ".pcap" not in name:
            continue
        with open(os.path.join(FIXTURES, name), "rb") as f:
            data = f.read()
        if name.endswith(".gz"):
            data = gzip.decompress(data)
        linktype, nanos, records = read_pcap(data)
        for r in records:
            opts = tcp_options(linktype, r[2])
            if opts:
                options.setdefault(shape(opts), opts)
        first = [(s, fr // 1000 if nanos else fr, d, o) for s, fr, d, o in records[:FRAMES]]
        save("pipeline", write_pcap(linktype, first))
        save("pipeline", write_pcap(linktype, first, big=True, nanos=True))
        save("pipeline", write_pcapng(linktype, first))
        save("pipeline", gzip.compress(write_pcap(linktype, first[:10]), mtime=0))
    for key in sorted(options):
        save("tcp_options", options[key])
    rng = random.Random(16)
    for n in (64, 256, 1024, 4096):
        for _ in range(4):
            save("segments", bytes(rng.randrange(256) for _ in range(n)))
    for target in ("pipeline", "tcp_options", "segments"):
        print(f"{target}: {len(os.listdir(os.path.join(OUT, target)))} inputs")


main()
