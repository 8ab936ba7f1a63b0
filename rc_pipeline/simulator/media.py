"""Deterministic, playable media bodies of realistic size, produced in chunks.

Recordings can be large (a benchmark fetches a 1 GB one), so a body is described by a
`BinaryContent` that knows its size and can yield any byte range without building the whole body.
"""

from __future__ import annotations

import math
import random
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

WAV_RATE = 8000  # 8 kHz mono 16-bit PCM: 16,000 bytes per second, like telephony WAV exports
WAV_HEADER_BYTES = 44
# MPEG-1 Layer III, 32 kbps, 48 kHz, mono, no CRC: every frame is exactly 144*32000/48000 = 96 bytes
# and lasts 1152/48000 s = 24 ms, so 4,000 bytes per second.
MP3_FRAME_HEADER = bytes((0xFF, 0xFB, 0x14, 0xC0))
MP3_FRAME_BYTES = 96
MP3_BYTES_PER_SECOND = 4000
CHUNK = 64 * 1024


@dataclass(frozen=True)
class BinaryContent:
    """A body defined by a fixed header followed by a repeating block, truncated to `size` bytes."""

    content_type: str
    size: int
    header: bytes
    block: bytes

    def iter_range(self, start: int = 0, end: int | None = None, chunk: int = CHUNK) -> Iterator[bytes]:
        """Yield bytes [start, end) (end exclusive, default the whole body) in chunks."""
        stop = self.size if end is None else min(end, self.size)
        pos = start
        while pos < stop:
            take = min(chunk, stop - pos)
            yield self._slice(pos, pos + take)
            pos += take

    def read_all(self) -> bytes:
        return b"".join(self.iter_range())

    def _slice(self, start: int, stop: int) -> bytes:
        out = bytearray()
        head = len(self.header)
        if start < head:
            out += self.header[start : min(stop, head)]
            start = min(stop, head)
        if start < stop:
            offset = (start - head) % len(self.block)
            need = stop - start
            reps = (offset + need) // len(self.block) + 1
            out += (self.block * reps)[offset : offset + need]
        return bytes(out)


def wav_content(seed: str, size: int) -> BinaryContent:
    """A WAV file of `size` bytes (header included): a quiet tone with a little noise."""
    rng = random.Random(f"wav:{seed}")
    # Whole-hertz tones complete whole cycles in one second, so repeating that second never clicks.
    freq = rng.choice((330, 400, 440, 523))
    samples = bytearray()
    for n in range(WAV_RATE):
        value = 2500 * math.sin(2 * math.pi * freq * n / WAV_RATE) + rng.uniform(-300, 300)
        samples += struct.pack("<h", int(value))
    data_bytes = max(0, size - WAV_HEADER_BYTES)
    header = (
        b"RIFF"
        + struct.pack("<I", 36 + data_bytes)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, WAV_RATE, WAV_RATE * 2, 2, 16)
        + b"data"
        + struct.pack("<I", data_bytes)
    )
    return BinaryContent("audio/wav", max(size, WAV_HEADER_BYTES), header, bytes(samples))


def wav_size_for(seconds: int) -> int:
    return WAV_HEADER_BYTES + seconds * WAV_RATE * 2


def mp3_content(size: int) -> BinaryContent:
    """An MP3 of silent frames: valid frame headers, zero side info (no audio data), `size` bytes."""
    frame = MP3_FRAME_HEADER + bytes(MP3_FRAME_BYTES - len(MP3_FRAME_HEADER))
    frames = max(1, math.ceil(size / MP3_FRAME_BYTES))
    return BinaryContent("audio/mpeg", frames * MP3_FRAME_BYTES, b"", frame)


def mp3_size_for(seconds: int) -> int:
    return max(1, math.ceil(seconds * 1000 / 24)) * MP3_FRAME_BYTES


def bytes_content(content_type: str, data: bytes) -> BinaryContent:
    """Wrap a small fully built body."""
    return BinaryContent(content_type, len(data), data, b"\0")


def png_bytes(seed: str, width: int = 16, height: int = 16) -> bytes:
    """A real RGB PNG filled with one seed-chosen colour."""
    rng = random.Random(f"png:{seed}")
    pixel = bytes(rng.randrange(256) for _ in range(3))
    raw = b"".join(b"\x00" + pixel * width for _ in range(height))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def pdf_bytes(title: str, pages: int) -> bytes:
    """A minimal valid PDF with `pages` pages, each showing one line of text."""
    objects: list[bytes] = []
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode())
    font_obj = 3 + 2 * pages
    for i in range(pages):
        text = f"{title} - page {i + 1} of {pages}".replace("(", "[").replace(")", "]")
        stream = f"BT /F1 14 Tf 72 720 Td ({text}) Tj ET".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
            f"/Resources << /Font << /F1 {font_obj} 0 R >> >> >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
