"""Sync tokens: a signed, opaque JSON payload (what a sync has delivered), per account and purpose.

A client cannot forge or edit one (the signature covers the payload and is keyed by the seed and
the account); a token of one endpoint or mailbox is refused by another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

from rc_pipeline.simulator.state import SimulatorState


def _key(state: SimulatorState, purpose: str) -> bytes:
    return hashlib.sha256(f"{state.config.seed}:{state.account.account_id}:{purpose}".encode()).digest()


def encode_token(state: SimulatorState, purpose: str, payload: dict) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    sig = hmac.new(_key(state, purpose), raw, hashlib.sha256).hexdigest()[:16]
    return base64.urlsafe_b64encode(raw).decode().rstrip("=") + "." + sig


def decode_token(state: SimulatorState, purpose: str, token: str) -> dict | None:
    """The payload, or None when the token is malformed, edited or made for another purpose."""
    try:
        body, sig = token.rsplit(".", 1)
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except ValueError:
        return None
    expected = hmac.new(_key(state, purpose), raw, hashlib.sha256).hexdigest()[:16]
    if not hmac.compare_digest(expected, sig):
        return None
    try:
        payload = json.loads(raw)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None
