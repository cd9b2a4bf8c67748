"""Templates and their immutable versions: variable schemas, semantic versions, the safe renderer, diffs."""
