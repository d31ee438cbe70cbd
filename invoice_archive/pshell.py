"""pshell development.ini: a shell with `request.db`, the models and a transaction."""
from __future__ import annotations

from typing import Any

from invoice_archive import models


def setup(env: dict[str, Any]) -> None:
    request = env["request"]
    request.tm.begin()
    env["tm"] = request.tm
    env["db"] = request.db
    env["models"] = models
