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
# warehouse runs needs an extension from the network.
NO_EXTENSION_DOWNLOADS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(
    path: str | os.PathLike[str], storage: ArchiveStorage | None = None, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse at ``path`` able to read the archive of ``storage``, with no download.

    ``storage`` is needed when the archive is remote (the views read it by URL); a local archive
    is read by path and needs none.
    """
    connection = duckdb.connect(str(path), read_only=read_only, config=dict(NO_EXTENSION_DOWNLOADS))
    try:
        if storage is not None and not storage.is_local:
            connection.register_filesystem(storage.fs)
    except BaseException:
        connection.close()
        raise
    return connection
