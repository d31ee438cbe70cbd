"""The scenarios of a run against a URL: every feature the package ships (features/,
installed as ``invoice_archive.features``), collected by ``invoice-archive acceptance``."""
from pytest_bdd import scenarios

from invoice_archive.acceptance.runner import features_dir

scenarios(str(features_dir()))
