"""The authorization matrix: every route and method, the permission its view
names, and the roles that hold it, read from the running configuration (not
written by hand). ``invoice-archive authz-matrix`` prints it as the table in
docs/authorization.md; tests/functional/test_authz_matrix.py checks both that
the page is current and that the service answers as the table says.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from invoice_archive.models import Role
from invoice_archive.security import ROLE_PERMISSIONS

PUBLIC = "__no_permission_required__"


@dataclass(frozen=True)
class Cell:
    route: str
    pattern: str
    method: str
    permission: str

    def allowed(self, role: str) -> bool:
        return self.permission == PUBLIC or self.permission in ROLE_PERMISSIONS.get(role, frozenset())


def matrix(config: Any) -> list[Cell]:
    """One cell per (route, method) with a view, from Pyramid's introspector."""
    config.commit()
    intr = config.registry.introspector
    patterns = {r["introspectable"]["name"]: r["introspectable"]["pattern"] for r in intr.get_category("routes")}
    cells = set()
    for entry in intr.get_category("views"):
        view = entry["introspectable"]
        route = view["route_name"]
        if not route or view["exception_only"] or route.startswith("__"):   # static views' routes
            continue
        perms = [dict(r)["value"] for r in entry["related"] if r.category_name == "permissions"]
        permission = str(perms[0]) if perms else "(default: denied)"
        methods = view["request_methods"] or ("GET",)
        for method in (methods,) if isinstance(methods, str) else methods:
            if method != "HEAD":     # Pyramid adds HEAD to every GET view
                cells.add(Cell(route, patterns.get(route, ""), method, permission))
    return sorted(cells, key=lambda c: (c.pattern, c.method))


def markdown(cells: list[Cell]) -> str:
    roles = [r.value for r in Role]
    lines = [
        "# Authorization matrix",
        "",
        "Generated from the running configuration by `invoice-archive authz-matrix`",
        "(`invoice_archive/views/authz.py`); `tests/functional/test_authz_matrix.py` fails",
        "when this page is out of date, and requests every cell with each role's token.",
        "✓ allowed; · refused (403); public: no token needed. Every id in a path is",
        "looked up within the caller's organisation: another organisation's id is a 404.",
        "",
        "| method | path | permission | " + " | ".join(roles) + " |",
        "|---|---|---|" + "|".join(":-:" for _ in roles) + "|",
    ]
    for c in cells:
        marks = ["public" if c.permission == PUBLIC else ("✓" if c.allowed(r) else "·") for r in roles]
        perm = "—" if c.permission == PUBLIC else f"`{c.permission}`"
        lines.append(f"| {c.method} | `{c.pattern}` | {perm} | " + " | ".join(marks) + " |")
    return "\n".join(lines) + "\n"


__all__ = ["Cell", "markdown", "matrix"]
