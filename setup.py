"""Where the installed packages come from; everything else is in setup.cfg.

The checkout keeps its top-level folders; some are installed under another name
(setuptools ``package_dir``), in a wheel and in an editable install alike:

    invoice_archive/   ->  invoice_archive
    migrations/        ->  invoice_archive.migrations   (alembic env.py and versions/;
                                                         the CLI finds them with importlib.resources)
    adapters/          ->  invoice_archive_adapters     (a name no other project's `adapters` can shadow)
    features/          ->  invoice_archive.features     (the zh-CN acceptance features, which
                                                         `invoice-archive acceptance` runs against a deployment)
"""
from setuptools import find_packages, setup


def _mapped(name: str, folder: str) -> list[str]:
    """The package `name` read from `folder`, with every subpackage below it."""
    return [name] + [f"{name}.{sub}" for sub in find_packages(folder)]


setup(
    packages=(find_packages(include=["invoice_archive", "invoice_archive.*"])
              + _mapped("invoice_archive.migrations", "migrations")
              + _mapped("invoice_archive_adapters", "adapters") + ["invoice_archive.features"]),
    package_dir={"invoice_archive.migrations": "migrations", "invoice_archive_adapters": "adapters",
                 "invoice_archive.features": "features"},
)
