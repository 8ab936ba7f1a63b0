"""Reversible id encodings: an id carries where its record comes from, so nothing has to be stored."""

from __future__ import annotations

import hashlib

_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def seed_key(seed: int, purpose: str, bits: int) -> int:
    """A stable per-seed number used to make ids look opaque."""
    digest = hashlib.sha256(f"{seed}:{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % (1 << bits)


def base62(n: int) -> str:
    if n == 0:
        return "0"
    out = []
    while n:
        n, rem = divmod(n, 62)
        out.append(_ALPHABET[rem])
    return "".join(reversed(out))


def unbase62(text: str) -> int:
    """Decode base62; raises ValueError on characters outside the alphabet."""
    n = 0
    for ch in text:
        idx = _ALPHABET.find(ch)
        if idx < 0:
            raise ValueError(f"not a base62 id: {text!r}")
        n = n * 62 + idx
    return n
