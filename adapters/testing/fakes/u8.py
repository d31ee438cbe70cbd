"""A fake Yonyou U8 EAI endpoint (``POST /U8EAI/import.asp``) for GL vouchers.

``proc="add"`` stores vouchers (numbering them when ``renewproofno="y"`` or
voucher_id is empty) and answers ``<item key succeed dsc u8key proc/>`` per
voucher (succeed 0 = success). ``proc="query"`` returns whole vouchers:
by example (any head field given in ``voucher/voucher_head``, e.g. reserve2 or
fiscal_year+accounting_period+voucher_type+voucher_id), or, with a
``timestamp="0x..."`` attribute, every voucher whose row version is greater,
oldest first, at most ``maxdataitems``. Requests declaring a DTD are refused.

Senders must be registered (``senders``); a broken authentication is answered
with HTTP 401, as the IIS in front of U8 does.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any, Callable

from webob import Request, Response

from invoice_archive_adapters.testing.fakes.base import FakeApp, StoredEntry, StoredVoucher
from invoice_archive_adapters.u8 import format as u8f
from invoice_archive_adapters.u8.xml import UnsafeXml, safe_fromstring, sub, tostring

EAI_PATH = "/U8EAI/import.asp"
MESSAGES = {
    "period_closed": "{year}年{period}月已结账，不能填制凭证",
    "empty": "凭证分录为空",
    "account": "第{no}条分录科目编码[{code}]不存在或不是末级科目",
    "one_side": "第{no}条分录借贷方金额不能同时为零或同时有值",
    "unbalanced": "凭证借贷不平衡！借方合计{debit}，贷方合计{credit}",
}


def rowversion(seq: int) -> str:
    return f"0x{seq:016X}"


class U8EaiFake(FakeApp):
    system = "u8"

    def __init__(self, *, senders: tuple[str, ...] = ("IA",), **kw: Any) -> None:
        super().__init__(**kw)
        self.senders = set(senders)

    # -- WSGI -------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Any:
        request = Request(environ)
        proc = None
        try:
            root = safe_fromstring(request.body) if request.body else None
            proc = root.get("proc") if root is not None else None
        except UnsafeXml as exc:
            root = None
            error = str(exc)
        except Exception as exc:  # noqa: BLE001 - any parse error is the sender's
            root = None
            error = f"XML 格式错误：{exc}"
        self.log_request(environ, proc=proc)
        if request.path_info != EAI_PATH or request.method != "POST":
            return Response("Not Found", status=404)(environ, start_response)
        if self.script.auth_broken:
            self.auth_failures += 1
            return Response("401 - Unauthorized: Access is denied due to invalid credentials.",
                            status=401)(environ, start_response)
        if root is None:
            return self._reply(self._error_reply(None, "-1", error))(environ, start_response)
        sender = root.get("sender", "")
        if sender not in self.senders:
            self.auth_failures += 1
            return self._reply(self._error_reply(root, "-1", f"发送方[{sender}]未在EAI中注册，拒绝访问"))(
                environ, start_response)
        if root.get("roottag") != "voucher" or root.get("billtype") != "gl":
            return self._reply(self._error_reply(root, "-1", "本服务只支持总账凭证（roottag=voucher billtype=gl）"))(
                environ, start_response)
        if proc == "add":
            failure = self.script.take({"unavailable"})
            if failure:
                return Response("Service Unavailable", status=503)(environ, start_response)
            reply, committed = self._add(root)
            response = self._reply(reply)
            if committed:
                self.after_commit(self.script.take({"timeout_after_commit", "drop_after_commit"}), environ)
            return response(environ, start_response)
        if proc == "query":
            return self._reply(self._query(root))(environ, start_response)
        return self._reply(self._error_reply(root, "-1", f"不支持的操作 proc={proc}"))(environ, start_response)

    @staticmethod
    def _reply(element: Any) -> Response:
        return Response(tostring(element), content_type="text/xml", charset="utf-8")

    @staticmethod
    def _error_reply(root: Any, code: str, message: str) -> Any:
        reply = u8f.ufinterface((root.get("proc") if root is not None else "") or "", "u8",
                                (root.get("sender") if root is not None else "") or "")
        sub(reply, "item", key="", succeed=code, dsc=message, u8key="", proc=reply.get("proc"))
        return reply

    # -- add ---------------------------------------------------------------------------------------
    def _add(self, root: Any) -> tuple[Any, bool]:
        reply = u8f.ufinterface("add", "u8", root.get("sender", ""))
        committed = False
        for element in root.iterfind("voucher"):
            key = element.get("id", "")
            failure = self.script.take({"validation", "period_closed"})
            if failure:
                sub(reply, "item", key=key, succeed="1", dsc=failure.get("message", "凭证校验失败"), u8key="",
                    proc="add")
                continue
            try:
                voucher = u8f.parse_voucher(element)
                head = voucher.head
                date = u8f.parse_date(head["date"])
                year = int(head.get("fiscal_year") or date.year)
                period = int(head.get("accounting_period") or date.month)
                entries = [StoredEntry(e.abstract, e.account_code, e.debit.quantize(Decimal("0.01")),
                                       e.credit.quantize(Decimal("0.01")), e.auxiliary) for e in voucher.entries]
            except (KeyError, ValueError, InvalidOperation) as exc:
                sub(reply, "item", key=key, succeed="1", dsc=f"凭证格式错误：{exc}", u8key="", proc="add")
                continue
            problem = self.ledger.problems(fiscal_year=year, period=period, entries=entries, messages=MESSAGES)
            if problem:
                sub(reply, "item", key=key, succeed="1", dsc=problem[1], u8key="", proc="add")
                continue
            stored = self.ledger.add(book=head.get("company") or "", word=head.get("voucher_type") or "记",
                                     fiscal_year=year, period=period, date=date,
                                     preparer=head.get("enter") or "", entries=entries,
                                     external_ref=head.get("reserve2") or None,
                                     attachment_count=int(head.get("attachment_number") or 0),
                                     number_format="{}", memo1=head.get("memo1", ""),
                                     system=head.get("voucher_making_system", ""))
            committed = True
            sub(reply, "item", key=key, succeed="0", dsc="导入成功", u8key=self.u8key(stored), proc="add")
        return reply, committed

    @staticmethod
    def u8key(v: StoredVoucher) -> str:
        return f"{v.fiscal_year}-{v.period:02d}-{v.word}-{int(v.number):04d}"

    # -- query ------------------------------------------------------------------------------------------
    def export(self, v: StoredVoucher) -> u8f.U8Voucher:
        head = u8f.head_for({
            "company": v.book, "voucher_type": v.word, "fiscal_year": v.fiscal_year,
            "accounting_period": v.period, "voucher_id": v.number, "attachment_number": v.attachment_count,
            "date": v.date.isoformat(), "auditdate": v.audited_at.date().isoformat() if v.audited_at else "",
            "enter": v.preparer, "checker": v.reviewer, "posting_person": v.poster,
            "posting_date": v.posted_at.date().isoformat() if v.posted_at else "",
            "voucher_making_system": v.extra.get("system", ""), "memo1": v.extra.get("memo1", ""),
            "reserve2": v.external_ref, "revokeflag": "1" if v.status == "void" else "",
            "ibook": "1" if v.status == "posted" else "0", "iflag": "1" if v.status == "void" else "0",
        })
        entries = [u8f.U8Entry(e.summary, e.account_code, e.debit, e.credit, e.auxiliary) for e in v.entries]
        return u8f.U8Voucher(head, entries, rowversion(v.change_seq), self.u8key(v))

    def _query(self, root: Any) -> Any:
        reply = u8f.ufinterface("query", "u8", root.get("sender", ""), succeed="0", dsc="")
        since = root.get("timestamp")
        limit = int(root.get("maxdataitems") or 1000)
        example = root.find("voucher/voucher_head")
        criteria = {c.tag: (c.text or "").strip() for c in (example if example is not None else [])
                    if (c.text or "").strip()}
        found = []
        for v in sorted(self.vouchers, key=lambda v: v.change_seq):
            if since and v.change_seq <= int(since, 16):
                continue
            exported = self.export(v)
            if all(_same(exported.head.get(k, ""), want) for k, want in criteria.items()):
                found.append(exported)
        for exported in found[:limit]:
            u8f.voucher_element(reply, exported)
        last = found[:limit][-1].timestamp if found else (since or rowversion(0))
        reply.set("timestamp", last)
        return reply


def _same(have: str, want: str) -> bool:
    if have == want:
        return True
    try:
        return int(have) == int(want)
    except ValueError:
        return False

