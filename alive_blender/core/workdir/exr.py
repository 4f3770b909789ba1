"""The depth EXRs the capture writes, read with numpy: one-channel, 32-bit
float, uncompressed scanline files (OpenImageIO's open costs more than the
data). Anything else is left to OpenImageIO by the caller."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Optional

import numpy as np


def read_plain_exr(path) -> Optional[np.ndarray]:
    """Fast path for what the capture writes: a one-channel, 32-bit float, uncompressed
    scanline EXR, parsed with numpy (OpenImageIO's open costs more than the data).
    None for anything else."""
    buf = Path(path).read_bytes()
    if len(buf) < 8 or buf[:4] != b"\x76\x2f\x31\x01" or buf[4] != 2 or buf[5] & 0x1e:
        return None   # not a single-part scanline EXR 2.0
    pos, attrs = 8, {}
    while buf[pos] != 0:
        end = buf.index(b"\0", pos)
        name = buf[pos:end].decode("latin-1")
        tend = buf.index(b"\0", end + 1)
        size = struct.unpack_from("<i", buf, tend + 1)[0]
        attrs[name] = buf[tend + 5:tend + 5 + size]
        pos = tend + 5 + size
    pos += 1
    chl, comp, win = attrs.get("channels", b""), attrs.get("compression", b"\x01"), attrs.get("dataWindow")
    if win is None or comp[:1] != b"\x00" or chl.count(b"\0") < 2:
        return None
    cname_end = chl.index(b"\0")
    pixel_type, = struct.unpack_from("<i", chl, cname_end + 1)
    if pixel_type != 2 or chl[cname_end + 17:cname_end + 18] != b"\0":   # FLOAT, and only one channel
        return None
    xmin, ymin, xmax, ymax = struct.unpack("<4i", win)
    w, h = xmax - xmin + 1, ymax - ymin + 1
    offsets = np.frombuffer(buf, "<u8", count=h, offset=pos)
    if len(offsets) != h or not np.array_equal(np.diff(offsets), np.full(h - 1, 8 + 4 * w, np.uint64)):
        return None
    start = int(offsets[0])
    if start + h * (8 + 4 * w) > len(buf):
        return None
    block = np.frombuffer(buf, "<i4", count=h * (w + 2), offset=start).reshape(h, w + 2)
    if not np.array_equal(block[:, 0], np.arange(ymin, ymax + 1)):
        return None
    return block[:, 2:].view("<f4").astype(np.float32)
