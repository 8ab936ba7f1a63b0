"""Every DuckDB connection to the warehouse: one place that decides how it reaches the archive.

The warehouse file is local, but its views read the archive's Parquet where it lies: absolute paths
for a local archive, ``s3://...`` URLs for an object store. DuckDB would read those URLs with its
httpfs extension, downloaded at first use and configured apart from the archive (its own endpoint
and credentials). Instead each connection is handed the archive's own fsspec filesystem
(``register_filesystem``): the same endpoint, credentials and client the archive writes with, and
nothing fetched at run time. Extension autoloading and autoinstalling are switched off, so a URL no
registered filesystem handles fails at once with DuckDB's error instead of reaching the internet.
"""

from __future__ import annotations

import os

import duckdb

from rc_pipeline.storage import ArchiveStorage

# Parquet, JSON and ICU (time zones) are linked into DuckDB's Python package: nothing the
# warehouse runs needs an extension from the network. Set once connected rather than passed as
# connect-time config: DuckDB refuses a second connection to a file already open in the process
# with another config (a notebook's own `duckdb.connect` beside `query`).
NO_EXTENSION_DOWNLOADS = ("SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false")


def connect(
    path: str | os.PathLike[str], storage: ArchiveStorage | None = None, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse at ``path`` able to read the archive of ``storage``, with no download.

    ``storage`` is needed when the archive is remote (the views read it by URL); a local archive
    is read by path and needs none.
    """
    connection = duckdb.connect(str(path), read_only=read_only)
    try:
        for statement in NO_EXTENSION_DOWNLOADS:
            connection.execute(statement)
        if storage is not None and not storage.is_local and not _registered(connection, storage):
            connection.register_filesystem(storage.fs)
    except BaseException:
        connection.close()
        raise
    return connection


def _registered(connection: duckdb.DuckDBPyConnection, storage: ArchiveStorage) -> bool:
    """Whether the database already has a filesystem for the archive's protocol.

    Registration belongs to the open database, not to one connection: while another connection in
    this process keeps the file open (an earlier `query` under a notebook's connection), the
    filesystem registered then is still there, and registering again is refused.
    """
    protocol = storage.fs.protocol
    name = protocol if isinstance(protocol, str) else protocol[0]
    return name in connection.list_filesystems()
