#!/usr/bin/env python3
"""Edits a tickervisor model file or checkpoint at the byte level (no msgpack
library: the edits are what a damaged or forged file would hold) and
recomputes the CRC-32 trailer, so the checksum alone cannot catch them.

  modelfile_edit.py IN OUT nan KEY        first float32 (bin) or float64 after KEY
                                          (or in the first element of its array) -> NaN
  modelfile_edit.py IN OUT bump KEY       the float64 after KEY one unit in the last place
                                          away (its lowest mantissa bit flipped)
  modelfile_edit.py IN OUT replace OLD NEW  bytes OLD -> NEW (same length), first match;
                                          KEY=VALUE is the msgpack key and value
                                          (a short string or a small integer)
  modelfile_edit.py OUT huge-array        a 16-byte file whose array header asks
                                          for 2^32-1 elements, with a valid CRC
"""
import struct
import sys
import zlib


def seal(body):
    """body + the 0xce uint32 CRC trailer over body."""
    return body + b"\xce" + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)


def fixstr(s):
    b = s.encode()
    assert len(b) < 32
    return bytes([0xA0 | len(b)]) + b


def packed(arg):
    """KEY=VALUE as msgpack bytes (fixstr key, fixstr or positive fixint
    value); anything else as its own bytes."""
    if "=" not in arg or " " in arg:
        return arg.encode()
    k, v = arg.split("=", 1)
    return fixstr(k) + (bytes([int(v)]) if v.isdigit() else fixstr(v))


def value_at(body, name):
    """The offset of the value after the first key NAME in body."""
    key = fixstr(name)
    i = body.find(key)
    if i < 0:
        sys.exit("key %s not found" % name)
    return i + len(key)


def main(argv):
    if len(argv) == 3 and argv[2] == "huge-array":
        # {"x": [<2^32-1 elements>]} ... then the "crc32" key the reader expects
        body = b"\x82" + fixstr("x") + b"\xdd\xff\xff\xff\xff" + fixstr("crc32")
        open(argv[1], "wb").write(seal(body))
        return 0
    src, dst, op = argv[1], argv[2], argv[3]
    data = bytearray(open(src, "rb").read())
    body = data[:-5]
    if op == "nan":
        i = value_at(body, argv[4])
        tag = body[i]
        if 0x90 <= tag <= 0x9F:   # an array (of networks): its first element
            i += 1
            tag = body[i]
        if tag == 0xCB:
            body[i + 1:i + 9] = struct.pack(">d", float("nan"))
        elif tag in (0xC4, 0xC5, 0xC6):
            n = {0xC4: 1, 0xC5: 2, 0xC6: 4}[tag]
            j = i + 1 + n
            body[j:j + 4] = struct.pack("<f", float("nan"))
        else:
            sys.exit("key %s: value tag %02x is neither float64 nor bin" % (argv[4], tag))
    elif op == "bump":
        i = value_at(body, argv[4])
        if body[i] != 0xCB:
            sys.exit("key %s: value tag %02x is not float64" % (argv[4], body[i]))
        body[i + 8] ^= 1
    elif op == "replace":
        old, new = packed(argv[4]), packed(argv[5])
        assert len(old) == len(new)
        i = body.find(old)
        if i < 0:
            sys.exit("%r not found" % old)
        body[i:i + len(old)] = new
    else:
        sys.exit("unknown op " + op)
    open(dst, "wb").write(seal(bytes(body)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
