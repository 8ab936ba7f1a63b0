"""Paths of the control layer: audit trail, legal holds, retention snapshots, retention-risk reports."""

from __future__ import annotations

from datetime import date

from rc_pipeline.storage.core import StorageCore
from rc_pipeline.storage.layout import AUDIT_DIR, HOLDS_DIR, RETENTION_DIR, RISK_DIR, safe_name

AUDIT_SEQ_DIGITS = 12


class ControlPaths(StorageCore):
    """Where the evidence of changes at the source lives. None of it is derived: never rebuilt."""

    def audit_dir(self) -> str:
        return self.path(AUDIT_DIR)

    def audit_entry_path(self, seq: int) -> str:
        """One object per entry (an object store cannot append atomically); zero-padded so names sort."""
        if seq < 1:
            raise ValueError(f"audit sequence numbers start at 1, got {seq}")
        return self.path(AUDIT_DIR, f"{seq:0{AUDIT_SEQ_DIGITS}d}.json")

    def audit_entry_paths(self) -> dict[int, str]:
        """Every stored audit entry by sequence number (temp files and other names are ignored)."""
        self.fs.invalidate_cache(self.audit_dir())
        try:
            names = self.fs.ls(self.audit_dir(), detail=False)
        except FileNotFoundError:
            return {}
        found = {}
        for path in names:
            name = self.fs_name(path)
            stem = name.removesuffix(".json")
            if name.endswith(".json") and stem.isdigit() and len(stem) == AUDIT_SEQ_DIGITS:
                found[int(stem)] = path
        return dict(sorted(found.items()))

    def holds_dir(self) -> str:
        return self.path(HOLDS_DIR)

    def hold_path(self, hold_id: str) -> str:
        return self.path(HOLDS_DIR, f"{safe_name(hold_id, 'hold id')}.json")

    def hold_paths(self) -> list[str]:
        # Holds are written by other processes (the CLI beside a running job): never a cached listing.
        self.fs.invalidate_cache(self.holds_dir())
        try:
            names = self.fs.ls(self.holds_dir(), detail=False)
        except FileNotFoundError:
            return []
        return sorted(
            p for p in names if self.fs_name(p).endswith(".json") and not self.fs_name(p).startswith(".")
        )

    def retention_snapshot_path(self, day: date) -> str:
        return self.path(RETENTION_DIR, f"snapshot={day.isoformat()}.json")

    def risk_report_path(self, day: date) -> str:
        """The retention-risk report of a day (as of the day's end), rewritten whole by each run."""
        return self.path(RISK_DIR, f"date={day.isoformat()}.json")
