"""features/archive/completeness.feature, in-process: the steps are invoice_archive/acceptance/steps
(HTTP only), the harness is tests/acceptance/conftest.py."""
from pytest_bdd import scenarios

scenarios("archive/completeness.feature")
