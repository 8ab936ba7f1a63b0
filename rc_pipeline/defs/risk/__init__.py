"""Retention risk: what RingCentral deletes next, and whether the archive holds it."""
