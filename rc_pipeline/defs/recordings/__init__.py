"""Call recordings."""
