"""A minimal msgpack encoder (standard library only) for building test batches by hand."""
import struct
import subprocess


def pack(obj) -> bytes:
    if obj is None:
        return b"\xc0"
    if obj is True:
        return b"\xc3"
    if obj is False:
        return b"\xc2"
    if isinstance(obj, int):
        if 0 <= obj < 128:
            return bytes([obj])
        if -32 <= obj < 0:
            return struct.pack("b", obj)
        if obj >= 0:
            return b"\xcf" + struct.pack(">Q", obj)
        return b"\xd3" + struct.pack(">q", obj)
    if isinstance(obj, str):
        data = obj.encode()
        return _len_prefix(data, 0xa0, 31, 0xd9, 0xda, 0xdb) + data
    if isinstance(obj, (bytes, bytearray)):
        n = len(obj)
        if n < 256:
            return b"\xc4" + bytes([n]) + bytes(obj)
        if n < 65536:
            return b"\xc5" + struct.pack(">H", n) + bytes(obj)
        return b"\xc6" + struct.pack(">I", n) + bytes(obj)
    if isinstance(obj, (list, tuple)):
        n = len(obj)
        head = bytes([0x90 | n]) if n < 16 else (b"\xdc" + struct.pack(">H", n) if n < 65536
                                                 else b"\xdd" + struct.pack(">I", n))
        return head + b"".join(pack(x) for x in obj)
    if isinstance(obj, dict):
        n = len(obj)
        head = bytes([0x80 | n]) if n < 16 else (b"\xde" + struct.pack(">H", n) if n < 65536
                                                 else b"\xdf" + struct.pack(">I", n))
        return head + b"".join(pack(k) + pack(v) for k, v in obj.items())
    raise TypeError(type(obj))


def _len_prefix(data, fix, fixmax, t8, t16, t32):
    n = len(data)
    if n <= fixmax:
        return bytes([fix | n])
    if n < 256:
        return bytes([t8, n])
    if n < 65536:
        return bytes([t16]) + struct.pack(">H", n)
    return bytes([t32]) + struct.pack(">I", n)


def zstd(data: bytes) -> bytes:
    """Compresses with the zstd command-line tool (Debian package zstd)."""
    return subprocess.run(["zstd", "-q", "-c", "-3"], input=data, capture_output=True,
                          check=True).stdout


def batch(agent, epoch, seq, lines, source="/var/log/test.log", ts=1_700_000_000_000_000_000):
    return {
        "v": 1, "agent": agent, "epoch": epoch, "seq": seq, "sent_at": ts,
        "sources": [source], "templates": [],
        "records": [{"l": line, "s": 0, "t": ts + i} for i, line in enumerate(lines)],
    }
