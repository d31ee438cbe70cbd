"""The people of the features and the tokens they act with.

The features name people (经办人"张经办", 审核人"李审核" ...). Each is played by a
token of the deployment under test, read from the token file: one ``key=token``
(or ``key token``, as ``invoice-archive demo-setup`` prints it) per line, where
the key is a role (``finance``, ``approver``, ``approver2`` for a second approver,
``accounting_system``, ``auditor``, ``archivist``, ``admin``) or the person's
own name as the features write it. ``#`` starts a comment. A name wins over a
role. Who a token really is (its person's name, as the audit log records it) is
asked of the deployment (``GET /api/v1/me``).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

#: the people of the features and the role key whose token plays each
CHARACTERS: Mapping[str, str] = {
    "张经办": "finance",
    "李审核": "approver",
    "陈审批": "approver2",
    "总账系统": "accounting_system",
    "赵档案": "archivist",
    "王审计": "auditor",
    "管理员": "admin",
}
#: what each role key means, for messages
ROLE_KEYS: Mapping[str, str] = {
    "finance": "财务（经办人）", "approver": "审批人（审核）", "approver2": "第二位审批人（审批）",
    "accounting_system": "记账系统", "auditor": "审计人员", "archivist": "档案管理员", "admin": "管理员",
}
_LINE = re.compile(r"^\s*(?P<key>[^=\s]+)\s*(?:=|\s)\s*(?P<token>\S+)\s*$")


class TokenFileError(ValueError):
    pass


def parse_token_file(text: str) -> dict[str, str]:
    """``key=token`` or ``key token`` lines; blank lines and ``#`` comments are skipped."""
    tokens: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()     # tokens are URL-safe Base64: never a "#"
        if not line:
            continue
        m = _LINE.match(line)
        if m is None:
            raise TokenFileError(f"令牌文件第 {n} 行无法识别（应为 角色=令牌 或 姓名=令牌）：{raw.strip()[:40]}")
        tokens[m["key"]] = m["token"]
    if not tokens:
        raise TokenFileError("令牌文件中没有令牌（每行一个 角色=令牌 或 姓名=令牌，可直接用 demo-setup 的输出）")
    return tokens


def read_token_file(path: str | Path) -> dict[str, str]:
    try:
        text = Path(path).read_text("utf-8")
    except OSError as exc:
        raise TokenFileError(f"令牌文件 {path} 无法读取：{exc.strerror or exc}") from None
    return parse_token_file(text)


@dataclass
class Cast:
    """Character -> token (the token file's, plus any a scenario issues itself)."""

    tokens: dict[str, str]
    issued: dict[str, str] = field(default_factory=dict)

    def token(self, who: str) -> str | None:
        if who in self.issued:
            return self.issued[who]
        if who in self.tokens:
            return self.tokens[who]
        role = CHARACTERS.get(who)
        return self.tokens.get(role) if role else None

    def missing(self, who: str) -> str:
        role = CHARACTERS.get(who)
        what = f"「{who}」的令牌" + (f"（{ROLE_KEYS.get(role, role)}，键 {role} 或 {who}）" if role else "")
        return f"令牌文件中没有{what}"

    def add(self, who: str, token: str) -> None:
        self.issued[who] = token


__all__ = ["CHARACTERS", "Cast", "ROLE_KEYS", "TokenFileError", "parse_token_file", "read_token_file"]
