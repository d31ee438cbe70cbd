"""The fixture the adapters' contract suite (invoice_archive_adapters.testing.contract) takes
besides the test class's own ``server``: that module imports no pytest, so it is added here."""
from __future__ import annotations

from typing import Any, Iterator

import pytest


@pytest.fixture
def adapter(request: pytest.FixtureRequest, server: Any) -> Iterator[Any]:
    """The test class's adapter against its fake ``server``, with short timeouts; closed after."""
    with request.instance.connected(server) as adapter:
        yield adapter
