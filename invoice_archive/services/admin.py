"""Administration: organisations, people, tokens and the demo set-up (used by the CLI)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from invoice_archive.db import utcnow
from invoice_archive.models import ApiToken, Organisation, Person, Role, name_key
from invoice_archive.security import forget_token, new_token
from invoice_archive.services.scoping import MAX_ID

DEMO_ORG = {"name": "演示科技有限公司", "tax_id": "91110000DEMO00001X", "fonds_code": "Z001"}
DEMO_PEOPLE = {
    Role.FINANCE: "张经办", Role.APPROVER: "李审核", Role.ACCOUNTING_SYSTEM: "总账系统",
    Role.AUDITOR: "王审计", Role.ARCHIVIST: "赵档案", Role.ADMIN: "管理员",
}


class AdminError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def create_org(db: Session, *, name: str, tax_id: str, fonds_code: str) -> Organisation:
    org = Organisation(name=name, tax_id=tax_id.strip().upper(), fonds_code=fonds_code.strip().upper())
    db.add(org)
    db.flush()
    return org


def find_org(db: Session, ref: str) -> Organisation | None:
    clauses = [Organisation.tax_id == ref.upper(), Organisation.fonds_code == ref.upper()]
    if ref.isdigit() and 0 < int(ref) <= MAX_ID:   # an INTEGER column: a longer number is no id
        clauses.append(Organisation.id == int(ref))
    return db.execute(select(Organisation).where(or_(*clauses))).scalars().first()


def person(db: Session, org_id: int, name: str, *, kind: str = "person") -> Person:
    """The organisation's person (or system account) of that name, created once:
    names are compared by their normalised key (models/org.py name_key)."""
    key = name_key(name)
    if not key:
        raise AdminError("name_required", "请填写令牌持有人的姓名（a person needs a name）。")
    found = db.execute(select(Person).where(Person.org_id == org_id, Person.name_key == key)).scalar_one_or_none()
    if found is None:
        found = Person(org_id=org_id, name=" ".join(name.split()), name_key=key, kind=kind)
        db.add(found)
        db.flush()
    return found


def create_token(db: Session, *, org: str, role: str, name: str | None = None,
                 expires_in: dt.timedelta | None = None) -> tuple[str, ApiToken]:
    found = find_org(db, org)
    if found is None:
        raise AdminError("org_not_found", f"organisation {org} not found (give its tax ID, fonds code or id)")
    holder = person(db, found.id, name or f"{role}@{found.fonds_code}",
                    kind="system" if role == Role.ACCOUNTING_SYSTEM else "person")
    token, digest = new_token()
    row = ApiToken(org_id=found.id, name=holder.name, role=Role(role), token_hash=digest, prefix=token[:10],
                   person_id=holder.id, expires_at=utcnow() + expires_in if expires_in else None)
    db.add(row)
    db.flush()
    return token, row


def list_tokens(db: Session, org: str | None = None) -> list[ApiToken]:
    stmt = select(ApiToken).order_by(ApiToken.id)
    if org:
        found = find_org(db, org)
        if found is None:
            raise AdminError("org_not_found", f"organisation {org} not found")
        stmt = stmt.where(ApiToken.org_id == found.id)
    return list(db.execute(stmt).scalars())


def revoke_token(db: Session, ref: str) -> ApiToken:
    """Revoke a token by its id or its shown prefix (``ia_xxxxxxx``): refused from
    the next request on, everywhere (API and the auditors' pages)."""
    clauses = [ApiToken.prefix == ref]
    if ref.isdigit() and 0 < int(ref) <= MAX_ID:
        clauses.append(ApiToken.id == int(ref))
    rows = list(db.execute(select(ApiToken).where(or_(*clauses))).scalars())
    if len(rows) != 1:
        raise AdminError("token_not_found", f"no single token matches {ref!r} (give its id or prefix)")
    if rows[0].revoked_at is None:
        rows[0].revoked_at = utcnow()
    forget_token(rows[0].token_hash)
    return rows[0]


def demo_setup(db: Session) -> dict[str, str]:
    """The demo organisation (created once) and a fresh token for each demo person."""
    org = find_org(db, DEMO_ORG["tax_id"]) or create_org(db, **DEMO_ORG)
    tokens = {}
    for role, person in DEMO_PEOPLE.items():
        tokens[role.value] = create_token(db, org=org.tax_id, role=role, name=person)[0]
    # a second approver, so that 审核 and 审批 are different people
    tokens["approver2"] = create_token(db, org=org.tax_id, role=Role.APPROVER, name="陈审批")[0]
    return tokens
