"""Duration of an archived recording, read from its own header.

RingCentral reports a recording's duration only through a metadata call (one Heavy request each, the
scarcest budget), so the archive derives it locally from the bytes it already holds.
"""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

# MPEG-1/2 Layer III bitrates in kbps, indexed by the header's 4-bit bitrate index.
_MPEG1_L3 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 0)
_MPEG2_L3 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160, 0)


def wav_seconds(fh: BinaryIO) -> float | None:
    header = fh.read(12)
    if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
        return None
    byte_rate = None
    while True:
        chunk = fh.read(8)
        if len(chunk) < 8:
            return None
        name, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if name == b"fmt ":
            fmt = fh.read(size)
            byte_rate = struct.unpack("<I", fmt[8:12])[0] if len(fmt) >= 12 else None
        elif name == b"data":
            return size / byte_rate if byte_rate else None
        else:
            fh.seek(size + (size & 1), os.SEEK_CUR)


def mp3_seconds(fh: BinaryIO, total_bytes: int) -> float | None:
    """Constant-bitrate estimate: audio bytes x 8 / bitrate of the first frame (skipping an ID3v2 tag)."""
    head = fh.read(10)
    start = 0
    if head[:3] == b"ID3" and len(head) == 10:
        size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
        start = 10 + size
    fh.seek(start)
    frame = fh.read(4)
    if len(frame) < 4 or frame[0] != 0xFF or (frame[1] & 0xE0) != 0xE0:
        return None
    version_bits = (frame[1] >> 3) & 0x3
    layer_bits = (frame[1] >> 1) & 0x3
    if layer_bits != 0x1:  # not Layer III
        return None
    table = _MPEG1_L3 if version_bits == 0x3 else _MPEG2_L3
    kbps = table[frame[2] >> 4]
    if not kbps:
        return None
    return (total_bytes - start) * 8 / (kbps * 1000)


def audio_seconds(path: str | os.PathLike[str], content_type: str | None) -> float | None:
    """Seconds of audio in a WAV or MP3 file; None when the header is not one we can read."""
    size = os.path.getsize(path)
    with open(path, "rb") as fh:
        if content_type and "wav" in content_type:
            return wav_seconds(fh)
        if content_type and ("mpeg" in content_type or "mp3" in content_type):
            return mp3_seconds(fh, size)
    return None
