"""Tables of the experiments app (filled in by its own issue)."""
