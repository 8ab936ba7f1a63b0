"""Typed Parquet partitions: where they live, and the one place they are written."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from rc_pipeline.storage.core import StorageCore
from rc_pipeline.storage.layout import PARTITION_FILE, RAW_DATASETS, Dataset

# Tables are written once per partition and kept for years: zstd spends a little write time
# for smaller files than Parquet's default (snappy).
_COMPRESSION = "zstd"


class ParquetTables(StorageCore):
    """Paths, reads and writes of the typed datasets under ``parquet/``."""

    def parquet_path(self, dataset: Dataset | str, day: date) -> str:
        """The Parquet file of one partition of a typed dataset."""
        dataset = Dataset(dataset)
        if dataset in RAW_DATASETS:
            raise ValueError(f"{dataset.value} is raw, not Parquet")
        return self.partition_file(dataset, day)

    def parquet_glob(self, dataset: Dataset | str) -> str:
        """Glob matching every partition file of a typed dataset (what DuckDB reads)."""
        dataset = Dataset(dataset)
        return f"{self.dataset_dir(dataset)}/*/{PARTITION_FILE[dataset]}"

    def read_parquet(self, dataset: Dataset | str, day: date) -> pa.Table:
        """One typed partition as an Arrow table (its schema is the one it was written with)."""
        with self.fs.open(self.parquet_path(dataset, day), "rb") as handle:
            return pq.read_table(handle)

    def write_parquet(self, dataset: Dataset | str, day: date, table: pa.Table) -> int:
        """Replace one typed partition with ``table``; returns its row count.

        The file is the partition's commit marker (see `list_partitions`), so it is published
        atomically: readers see the previous table or the new one, never a torn file.
        """
        with self.atomic_open(self.parquet_path(dataset, day)) as handle:
            pq.write_table(table, handle, compression=_COMPRESSION)
        return table.num_rows
