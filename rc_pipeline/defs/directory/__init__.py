"""Extension directory snapshots."""
