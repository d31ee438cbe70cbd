"""The Yonyou U8 EAI adapter against its fake server."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from invoice_archive_adapters.testing.contract import AccountingRecordsContract, AccountingSystemContract, make_draft
from invoice_archive_adapters.testing.fakes import FakeServer
from invoice_archive_adapters.testing.fakes.u8 import U8EaiFake
from invoice_archive.ports.accounting import AccountingError, Outcome
from invoice_archive_adapters.u8 import U8EaiAdapter
from invoice_archive_adapters.u8.xml import UnsafeXml, safe_fromstring


class TestU8Eai(AccountingSystemContract, AccountingRecordsContract):
    adapter_class = U8EaiAdapter

    @pytest.fixture
    def server(self):
        with FakeServer(U8EaiFake(senders=("IA",))) as server:
            yield server

    def make_adapter(self, server: Any, **settings: Any) -> U8EaiAdapter:
        return U8EaiAdapter({"url": server.url, "sender": "IA", **settings})

    def test_the_external_ref_is_stored_in_reserve2(self, server, adapter):
        adapter.post(make_draft())
        [voucher] = server.vouchers
        assert voucher.external_ref == "IA-BX-2024-0031-v1"
        assert server.app.export(voucher).head["reserve2"] == "IA-BX-2024-0031-v1"

    def test_an_unregistered_sender_is_an_auth_failure(self, server):
        adapter = self.make_adapter(server, sender="NOPE")
        with pytest.raises(AccountingError) as info:
            adapter.post(make_draft())
        assert info.value.code == "auth_failed" and not info.value.retryable
        assert "未在EAI中注册" in info.value.system_message
        assert server.app.auth_failures == 1

    def test_the_reversal_summary_names_the_original(self, server, adapter):
        original = adapter.post(make_draft())
        adapter.reverse(original.system_id, date=dt.date(2024, 7, 5), reason="发票红冲",
                        external_ref="IA-BX-2024-0031-v1-R")
        reversal = adapter.find_by_external_ref("IA-BX-2024-0031-v1-R")
        assert all(e.summary.startswith(f"[冲销2024.06.28 记-{int(original.voucher_number):04d}号凭证]")
                   for e in reversal.entries)
        assert reversal.debit_total == -original_total(adapter)

    def test_posted_and_void_come_from_ibook_and_iflag(self, server, adapter):
        result = adapter.post(make_draft())
        voucher = server.vouchers[0]
        server.app.ledger.set_status(voucher.id, "posted")
        assert adapter.find_by_external_ref("IA-BX-2024-0031-v1").status == "posted"
        server.app.ledger.set_status(voucher.id, "void")
        assert adapter.find_by_external_ref("IA-BX-2024-0031-v1").status == "void"
        assert adapter.reverse(result.system_id, date=dt.date(2024, 7, 5), reason="x",
                               external_ref="IA-X-R").status == Outcome.REJECTED

    def test_pull_changes_pages_by_rowversion(self, server):
        adapter = self.make_adapter(server, page_size=2)
        for n in range(5):
            adapter.post(make_draft(f"IA-BX-2024-00{n}0-v1"))
        changes, mark = adapter.pull_changes(None)
        assert len(changes) == 5 and mark.startswith("0x")
        assert adapter.pull_changes(mark) == ([], mark)


def original_total(adapter):
    return adapter.find_by_external_ref("IA-BX-2024-0031-v1").debit_total


@pytest.mark.parametrize("document", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><ufinterface>&lol;</ufinterface>',
    b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><ufinterface/>',
])
def test_replies_with_a_dtd_are_refused(document):
    with pytest.raises(UnsafeXml):
        safe_fromstring(document)


def test_a_gb2312_reply_is_read():
    reply = '<?xml version="1.0" encoding="gb2312"?><ufinterface><item dsc="导入成功"/></ufinterface>'.encode("gb2312")
    assert safe_fromstring(reply).find("item").get("dsc") == "导入成功"


def test_an_adapter_speaking_gb2312_is_understood():
    with FakeServer(U8EaiFake()) as server:
        adapter = U8EaiAdapter({"url": server.url, "sender": "IA", "xml_encoding": "gb2312"})
        assert adapter.post(make_draft()).status == Outcome.POSTED
        assert server.vouchers[0].entries[0].summary == "报销差旅费 BX-2024-0031"
