"""Archiving: stores, packaging, archival codes and the four-property checks (pure core)."""
