"""Provider adapters (optional extras)."""
