"""Reference data loaders: the per-class reference sets (sets.py)."""
