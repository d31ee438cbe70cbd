"""Alembic migrations, installed as the package ``invoice_archive.migrations``
(setup.py maps it to this folder) so a wheel carries them; the console script
finds them with importlib.resources (invoice_archive.cli.migrations_dir)."""
