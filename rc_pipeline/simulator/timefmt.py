"""RingCentral's date-time format: ISO 8601 with milliseconds and a Z, e.g. 2016-03-10T18:07:52.534Z."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(ts: datetime) -> str:
    """Format an aware datetime the way RingCentral writes it."""
    ts = ts.astimezone(UTC)
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"


def iso_ms(epoch_ms: int) -> str:
    """Format epoch milliseconds the way RingCentral writes it."""
    return iso(datetime.fromtimestamp(epoch_ms / 1000, UTC))


def parse_iso(text: str) -> datetime:
    """Parse a client-supplied date-time; naive values are read as UTC, like RingCentral does.

    Raises ValueError on anything that is not ISO 8601.
    """
    value = text.strip()
    if not value:
        raise ValueError("empty date-time")
    parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def now_utc() -> datetime:
    """Real wall-clock time. The simulated account's "now" is its SimClock (`SimulatorState.clock`)."""
    return datetime.now(UTC)


def to_ms(ts: datetime) -> int:
    return int(ts.timestamp() * 1000)
