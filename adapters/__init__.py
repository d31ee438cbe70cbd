"""The accounting-system and tax-platform adapters, installed as ``invoice_archive_adapters``
(setup.py maps that package to this folder, in a wheel and in an editable install alike).

Run from a checkout, the folder is also on sys.path as ``adapters``; importing it under that
name would make a second copy of every module (two classes, two registries), so it refuses."""
if __name__ != "invoice_archive_adapters":
    raise ImportError(f"import the adapters as invoice_archive_adapters, not {__name__!r} "
                      "(adapters/ is installed under that name; see setup.py)", name=__name__)
