"""The step definitions of the zh-CN features (features/), one set for both runs: the
test suite's in-process run (tests/acceptance) and ``invoice-archive acceptance``
against a URL. They need a ``harness`` fixture (harness.py) from whichever runs them.

pytest-bdd registers each step as a fixture in its module; importing the modules'
names here (and ``from invoice_archive.acceptance.steps import *`` in a conftest or
plugin) makes them visible to the scenarios."""
from invoice_archive.acceptance.steps.common import *  # noqa: F401,F403
from invoice_archive.acceptance.steps.intake import *  # noqa: F401,F403
from invoice_archive.acceptance.steps.verification import *  # noqa: F401,F403
from invoice_archive.acceptance.steps.compliance import *  # noqa: F401,F403
from invoice_archive.acceptance.steps.claims import *  # noqa: F401,F403
from invoice_archive.acceptance.steps.posting import *  # noqa: F401,F403
from invoice_archive.acceptance.steps.archive import *  # noqa: F401,F403
from invoice_archive.acceptance.steps.completeness import *  # noqa: F401,F403
from invoice_archive.acceptance.steps.audit import *  # noqa: F401,F403
from invoice_archive.acceptance.steps.journey import *  # noqa: F401,F403
