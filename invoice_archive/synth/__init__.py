"""Synthetic data for demos, tests and load tests (never real parties)."""
