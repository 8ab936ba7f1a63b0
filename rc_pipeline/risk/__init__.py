"""What RingCentral is about to delete, and whether the archive holds it (no Dagster here)."""
