"""Vector search adapters (usearch HNSW)."""
