"""Tables of the deployments app (filled in by its own issue)."""
