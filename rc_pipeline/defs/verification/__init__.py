"""Re-verifying the archive without RingCentral."""
