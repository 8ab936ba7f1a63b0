"""WORM records: S3 Object Lock on every object the archive writes, and what a lock on an object is.

With a policy (RC_WORM_MODE, RC_WORM_RETAIN_DAYS) every upload carries ``ObjectLockMode`` and an
``ObjectLockRetainUntilDate`` of the moment of the upload plus the retention days: S3 then refuses to
delete or overwrite that version until the date (GOVERNANCE: unless a principal with
s3:BypassGovernanceRetention insists; COMPLIANCE: nobody, not even the account root). A bucket must be
created with Object Lock enabled (which also turns versioning on): asked of any other bucket, WORM
fails when the archive is opened rather than write unlocked records.

Working state (``state/``: sync tokens, leases, export task state) and derived reports (``reports/``)
are rewritten every few minutes and are not records: they are written without a lock, so a versioned
locked bucket does not keep years of lease files. Nor are a writer's temp objects (``.tmp-`` names). Everything else (raw pages, recordings, attachments,
Parquet tables, manifests, the audit trail, holds) is locked.

An overwrite on a locked bucket makes a new version; the previous one keeps its own lock until its own
date. A delete without a version id only adds a delete marker. So nothing written is lost before its
date, including superseded pages and rebuilt tables; and an erasure cannot remove what was locked.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import fsspec

from rc_pipeline.storage.layout import TEMP_PREFIX

MODES = ("governance", "compliance")
# Relative prefixes written without a lock: working state and derived reports, not records.
UNLOCKED_PREFIXES = ("state/", "reports/")
# A retain-until is dated on this machine's clock just before the upload, the object's LastModified
# by the server when the upload starts: allowed apart by this much before a lock counts as short.
CLOCK_SLACK = timedelta(hours=1)


class WormError(ValueError):
    """WORM was asked of an archive that cannot give it; the message says what to change."""


@dataclass(frozen=True)
class ObjectLock:
    """What S3 says of one object's current version: its retention and its legal hold."""

    path: str
    mode: str | None  # GOVERNANCE, COMPLIANCE, or None (no retention)
    retain_until: datetime | None
    legal_hold: bool
    last_modified: datetime | None
    # Set for a version older than the current one (an overwritten or deleted object's past).
    noncurrent_version: str | None = None

    def locked_at(self, moment: datetime) -> bool:
        """Whether S3 would refuse to delete this version at ``moment``."""
        return self.legal_hold or (
            self.mode is not None and self.retain_until is not None and self.retain_until > moment
        )

    def describe(self) -> str:
        """e.g. ``COMPLIANCE until 2032-11-30`` or ``legal hold``, for refusals and reports."""
        parts = []
        if self.mode and self.retain_until:
            parts.append(f"{self.mode} until {self.retain_until.date().isoformat()}")
        if self.legal_hold:
            parts.append("legal hold")
        text = ", ".join(parts) or "no lock"
        return f"{text}; an earlier version, {self.noncurrent_version}" if self.noncurrent_version else text


@dataclass(frozen=True)
class WormPolicy:
    """Lock every record written: ``mode`` (governance or compliance) for ``retain_days`` days."""

    mode: str
    retain_days: int

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise WormError(f"WORM mode {self.mode!r} must be one of {', '.join(MODES)}")
        if self.retain_days < 1:
            raise WormError(f"WORM retention of {self.retain_days} day(s) must be at least 1 day")

    @property
    def s3_mode(self) -> str:
        return self.mode.upper()

    def retain_until(self, now: datetime | None = None) -> datetime:
        """The retain-until date of an object written at ``now`` (timezone-aware UTC)."""
        return (now or datetime.now(UTC)).astimezone(UTC) + timedelta(days=self.retain_days)

    def put_kwargs(self) -> Mapping[str, Any]:
        """The Object Lock arguments of an upload, dated when the upload reads them (not before a
        download that may take minutes)."""
        return _LockArguments(self)

    def problem(self, lock: ObjectLock) -> str | None:
        """Why ``lock`` falls short of this policy (None: it does not)."""
        if lock.mode != self.s3_mode:
            return f"{lock.path}: {lock.describe()}, expected {self.s3_mode} for {self.retain_days} days"
        written = lock.last_modified or datetime.now(UTC)
        expected = self.retain_until(written) - CLOCK_SLACK
        if lock.retain_until is None or lock.retain_until < expected:
            return (
                f"{lock.path}: {lock.describe()}, expected until {expected.date().isoformat()} or later "
                f"({self.retain_days} days after it was written)"
            )
        return None


class _LockArguments(Mapping[str, Any]):
    """``ObjectLockMode`` and ``ObjectLockRetainUntilDate``, the date taken at each read."""

    _KEYS = ("ObjectLockMode", "ObjectLockRetainUntilDate")

    def __init__(self, policy: WormPolicy) -> None:
        self._policy = policy

    def __getitem__(self, key: str) -> Any:
        if key == "ObjectLockMode":
            return self._policy.s3_mode
        if key == "ObjectLockRetainUntilDate":
            return self._policy.retain_until()
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)


def is_s3(fs: fsspec.AbstractFileSystem) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return protocol in ("s3", "s3a")


def is_record(relative: str) -> bool:
    """Whether a path (relative to the archive root) is a record the policy locks. A writer's temp
    object is not: locked, it could never be removed once its content was published elsewhere."""
    relative = relative.lstrip("/")
    if any(part.startswith(TEMP_PREFIX) for part in relative.split("/")):
        return False
    return not relative.startswith(UNLOCKED_PREFIXES)


def check_bucket(fs: fsspec.AbstractFileSystem, root: str, policy: WormPolicy) -> None:
    """Refuse a root whose objects cannot be locked: not S3, or a bucket without Object Lock."""
    if not is_s3(fs):
        raise WormError(
            f"RC_WORM_MODE={policy.mode} needs an S3 archive root (RC_ARCHIVE_ROOT=s3://bucket/prefix), "
            f"not {root!r}: Object Lock is an object-store feature; a local or other filesystem cannot "
            "refuse a delete"
        )
    bucket = root.split("/", 1)[0]
    try:
        enabled = bucket_has_object_lock(fs, bucket)
    except Exception as exc:  # any answer but "Enabled" means the records would land unlocked
        raise WormError(
            f"RC_WORM_MODE={policy.mode}: cannot read the Object Lock configuration of bucket "
            f"{bucket!r} ({type(exc).__name__}: {str(exc)[:200]}); the credentials need "
            "s3:GetBucketObjectLockConfiguration"
        ) from exc
    if not enabled:
        raise WormError(
            f"RC_WORM_MODE={policy.mode}: bucket {bucket!r} does not have Object Lock enabled, so its "
            "objects cannot be locked. Create the archive bucket with Object Lock "
            "(aws s3api create-bucket --object-lock-enabled-for-bucket ...) or unset RC_WORM_MODE"
        )


def bucket_has_object_lock(fs: fsspec.AbstractFileSystem, bucket: str) -> bool:
    """Whether ``bucket`` was created with Object Lock (errors other than "not configured" raise)."""
    try:
        answer = fs.call_s3("get_object_lock_configuration", Bucket=bucket)
    except Exception as exc:
        if "ObjectLockConfigurationNotFound" in f"{type(exc).__name__} {exc}":
            return False
        raise
    return answer.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"


def _split(fs: fsspec.AbstractFileSystem, path: str) -> tuple[str, str]:
    bucket, key, _ = fs.split_path(path)
    return bucket, key


def object_lock(fs: fsspec.AbstractFileSystem, path: str) -> ObjectLock:
    """The lock of the current version of ``path`` (FileNotFoundError when there is none)."""
    bucket, key = _split(fs, path)
    try:
        head = fs.call_s3("head_object", Bucket=bucket, Key=key)
    except FileNotFoundError:
        raise
    except Exception as exc:
        if "404" in str(exc) or "NoSuchKey" in str(exc) or "Not Found" in str(exc):
            raise FileNotFoundError(path) from exc
        raise
    return ObjectLock(
        path=path,
        mode=head.get("ObjectLockMode"),
        retain_until=_aware(head.get("ObjectLockRetainUntilDate")),
        legal_hold=head.get("ObjectLockLegalHoldStatus") == "ON",
        last_modified=_aware(head.get("LastModified")),
    )


def version_locks(fs: fsspec.AbstractFileSystem, path: str) -> list[ObjectLock]:
    """The lock of every version of ``path`` (current and earlier; [] when it never existed).

    What a locked bucket keeps of an object is every version written: an overwrite or a delete without
    a version id leaves the earlier ones, each under its own lock until its own date."""
    bucket, key = _split(fs, path)
    versions, marker = [], {}
    while True:
        page = fs.call_s3("list_object_versions", Bucket=bucket, Prefix=key, **marker)
        versions += [v for v in page.get("Versions", []) if v["Key"] == key]
        if not page.get("IsTruncated"):
            break
        marker = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    locks = []
    for version in versions:
        head = fs.call_s3("head_object", Bucket=bucket, Key=key, VersionId=version["VersionId"])
        locks.append(
            ObjectLock(
                path=path,
                mode=head.get("ObjectLockMode"),
                retain_until=_aware(head.get("ObjectLockRetainUntilDate")),
                legal_hold=head.get("ObjectLockLegalHoldStatus") == "ON",
                last_modified=_aware(head.get("LastModified")),
                noncurrent_version=None if version.get("IsLatest") else version["VersionId"],
            )
        )
    return locks


def set_legal_hold(fs: fsspec.AbstractFileSystem, path: str, on: bool) -> None:
    """Turn the S3 legal hold of the current version of ``path`` on or off."""
    bucket, key = _split(fs, path)
    fs.call_s3("put_object_legal_hold", Bucket=bucket, Key=key, LegalHold={"Status": "ON" if on else "OFF"})


def _aware(value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)
