"""Untrusted zips: traversal, absolute paths, symlinks, bombs, duplicates and damaged files are refused."""

import io
import stat
import zipfile

import pytest

from rc_pipeline.storage.zipsafe import (
    CorruptZip,
    UnsafeZipEntry,
    ZipLimits,
    copy_entry,
    open_zip,
    vetted_entries,
)

GOOD = "account/1/extension/2/message-store/content/3/fax.pdf"


def make_zip(
    entries: list[tuple[str, bytes]], symlink: str | None = None, method=zipfile.ZIP_STORED
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as zf:
        for name, data in entries:
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return buffer.getvalue()


def vet(data: bytes, limits: ZipLimits | None = None):
    limits = limits or ZipLimits()
    with open_zip(io.BytesIO(data), "archive part 1 (archive_1.zip)") as zf:
        return [i.filename for i in vetted_entries(zf, "archive part 1 (archive_1.zip)", limits)]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("account/1/../../../etc/cron.d/evil", "path traversal"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/evil.dll", "absolute path"),
        ("account\\..\\evil", "backslash"),
    ],
)
def test_unsafe_names_are_refused_naming_the_entry(name, problem):
    with pytest.raises(UnsafeZipEntry) as caught:
        vet(make_zip([(GOOD, b"ok"), (name, b"evil")]))
    assert f"entry {name!r}" in str(caught.value) and problem in str(caught.value)
    assert "archive part 1" in str(caught.value)


def test_a_symlink_entry_is_refused():
    with pytest.raises(UnsafeZipEntry, match="symbolic link") as caught:
        vet(make_zip([(GOOD, b"ok")], symlink="account/1/extension/2/link"))
    assert "account/1/extension/2/link" in str(caught.value)


def test_a_duplicate_name_is_refused():
    with pytest.warns(UserWarning, match="Duplicate name"):
        data = make_zip([(GOOD, b"one"), (GOOD, b"two")])
    with pytest.raises(UnsafeZipEntry, match="duplicate"):
        vet(data)


def test_a_bomb_is_refused_by_ratio_and_by_total_size():
    bomb = make_zip([("account/1/bomb.bin", b"\0" * (8 << 20))], method=zipfile.ZIP_DEFLATED)
    assert len(bomb) < 100_000
    with pytest.raises(UnsafeZipEntry, match="compression ratio") as caught:
        vet(bomb)
    assert "account/1/bomb.bin" in str(caught.value)
    big = make_zip([(GOOD, b"x" * 5000), ("account/1/b.bin", b"y" * 5000)])
    with pytest.raises(UnsafeZipEntry, match="more than 6,000 bytes") as caught:
        vet(big, ZipLimits(max_total_bytes=6000))
    assert "account/1/b.bin" in str(caught.value)


def test_an_entry_lying_about_its_size_stops_at_the_declared_size():
    data = make_zip([(GOOD, b"z" * 10_000)], method=zipfile.ZIP_DEFLATED)
    with open_zip(io.BytesIO(data), "part") as zf:
        info = zf.getinfo(GOOD)
        info.file_size = 100  # the header says 100 bytes; inflating gives 10,000
        with pytest.raises((UnsafeZipEntry, CorruptZip)) as caught:
            copy_entry(zf, info, io.BytesIO(), "part", 1 << 30)
    assert GOOD in str(caught.value)


def test_a_truncated_zip_is_detected():
    data = make_zip([(GOOD, b"%PDF" + b"p" * 4000)])
    with pytest.raises(CorruptZip, match="not a readable zip") as caught:
        vet(data[: len(data) // 2])
    assert "archive part 1" in str(caught.value)


def test_damaged_data_fails_its_crc_naming_the_entry():
    payload = b"%PDF" + bytes(range(256)) * 16
    data = bytearray(make_zip([(GOOD, payload)]))
    data[data.index(payload) + 100] ^= 0xFF
    with open_zip(io.BytesIO(bytes(data)), "archive part 1") as zf:
        (info,) = vetted_entries(zf, "archive part 1", ZipLimits())
        with pytest.raises(CorruptZip) as caught:
            copy_entry(zf, info, io.BytesIO(), "archive part 1", 1 << 30)
    assert GOOD in str(caught.value) and "archive part 1" in str(caught.value)


def test_a_good_zip_passes_and_copies_byte_for_byte():
    payload = b"%PDF-1.4 fax"
    data = make_zip([("account/1/extension/2/", b""), (GOOD, payload)])
    assert vet(data) == [GOOD]
    out = io.BytesIO()
    with open_zip(io.BytesIO(data), "part") as zf:
        size, sha = copy_entry(zf, zf.getinfo(GOOD), out, "part", 1 << 20)
    assert out.getvalue() == payload and size == len(payload)
