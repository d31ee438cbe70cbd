"""Posting through each accounting system's fake: approval queues the voucher, the
worker posts it after commit, and nothing is ever posted twice."""
from __future__ import annotations

import pytest

from tests.support.invoices import synthetic_xml
from tests.support.journey import approve_claim, create_claim, post_invoice
from tests.support.posting import posting_rig

SYSTEMS = ["generic_json", "kingdee", "u8", "yonsuite"]


@pytest.fixture(params=SYSTEMS)
def rig(request, db_url, tmp_path):
    with posting_rig(request.param, db_url, tmp_path / "store") as rig:
        yield rig


def approved_claim(rig) -> dict:
    svc = rig.service
    inv = post_invoice(svc, synthetic_xml()).json
    return approve_claim(svc, create_claim(svc, [inv["id"]]).json["id"])


def get_claim(rig, claim_id: int) -> dict:
    return rig.service.app.get(f"/api/v1/claims/{claim_id}", headers=rig.service.headers("王审计")).json


def test_approval_queues_and_the_worker_posts(rig):
    claim = approved_claim(rig)
    assert claim["status"] == "posting"
    assert claim["posting"]["external_ref"] == f"IA-Z001-{claim['number']}-v1"
    assert rig.fake.vouchers == []                     # nothing is sent inside the request
    assert rig.worker().run_once() == 1
    after = get_claim(rig, claim["id"])
    assert after["status"] == "posted" and after["voucher"]["number"].startswith("记-")
    [remote] = rig.fake.vouchers
    assert remote.external_ref == claim["posting"]["external_ref"]
    voucher = rig.service.app.get(f"/api/v1/vouchers/{after['voucher']['id']}",
                                  headers=rig.service.headers("王审计")).json
    assert voucher["debit_total"] == voucher["credit_total"] == "1060.00"
    # the accounts of the system's own chart (K/3 Cloud's are numbered with dots: 6602.01)
    assert [e["account_code"] for e in voucher["entries"]] == [rig.settings["posting.account.expense.travel"],
                                                               rig.settings["posting.account.credit"]]
    assert voucher["system_id"] and voucher["invoice_ids"] == [claim["invoices"][0]["id"]]
    assert rig.worker().run_once() == 0                # done stays done


@pytest.mark.parametrize("failure", ["timeout_after_commit", "drop_after_commit"])
def test_a_lost_reply_never_makes_a_second_voucher(rig, failure):
    """The system commits the voucher, then the reply is lost: the outcome is
    unknown, and the retry looks the reference up instead of posting again."""
    claim = approved_claim(rig)
    rig.fake.fail_next(failure)
    rig.worker().run_once()
    assert len(rig.fake.vouchers) == 1                 # committed over there
    first = get_claim(rig, claim["id"])
    if first["status"] == "posting":                   # the reply was lost: retry
        assert first["posting"]["last_outcome"] == "unknown"
        rig.worker().run_once()
    after = get_claim(rig, claim["id"])
    assert after["status"] == "posted"
    assert len(rig.fake.vouchers) == 1                 # and never a second one


def test_a_closed_period_comes_back_with_the_systems_message(rig):
    claim = approved_claim(rig)
    rig.fake.fail_next("period_closed")
    rig.worker().run_once()
    after = get_claim(rig, claim["id"])
    assert after["status"] == "approved"
    assert after["posting_error"] and after["posting"]["status"] == "failed"
    # fixed over there: posting again uses a new reference and succeeds
    rig.service.app.post_json(f"/api/v1/claims/{claim['id']}/post", {}, headers=rig.service.headers("张经办"))
    rig.worker().run_once()
    again = get_claim(rig, claim["id"])
    assert again["status"] == "posted" and again["posting"]["external_ref"].endswith("-v2")


def test_an_authentication_failure_is_not_retried(rig):
    claim = approved_claim(rig)
    rig.fake.app.break_auth()
    worker = rig.worker()
    worker.run_once()
    after = get_claim(rig, claim["id"])
    assert after["posting"]["status"] == "failed" and after["posting"]["attempts"] == 1
    assert after["status"] == "approved" and after["posting_error"]
    assert worker.run_once() == 0
    assert rig.fake.vouchers == []


def test_an_unreachable_system_is_retried_later(rig):
    claim = approved_claim(rig)
    rig.fake.fail_next("unavailable")
    rig.worker().run_once()       # no backoff in tests: the retry comes in the same run
    after = get_claim(rig, claim["id"])
    assert after["status"] == "posted"
    assert after["posting"]["attempts"] == 2
    assert len(rig.fake.vouchers) == 1


def test_reversal_is_a_red_voucher(rig):
    claim = approved_claim(rig)
    rig.worker().run_once()
    rig.fake.app.ledger.post_all()                     # posted (过账) over there: only a red voucher reverses it
    voucher_id = get_claim(rig, claim["id"])["voucher"]["id"]
    rig.service.app.post_json(f"/api/v1/vouchers/{voucher_id}/reverse", {"reason": "发票开错，冲销"},
                              headers=rig.service.headers("陈审批"), status=202)
    rig.worker().run_once()
    original = rig.service.app.get(f"/api/v1/vouchers/{voucher_id}", headers=rig.service.headers("王审计")).json
    red = rig.service.app.get(f"/api/v1/vouchers/{original['reversed_by_id']}",
                              headers=rig.service.headers("王审计")).json
    assert red["red_flag"] and red["reverses_id"] == voucher_id
    assert red["debit_total"] == "-1060.00"
    assert all(e["summary"].startswith("[冲销") for e in red["entries"])
    assert get_claim(rig, claim["id"])["status"] == "reversed"
    assert len(rig.fake.vouchers) == 2
    # a second request is refused, not queued twice
    rig.service.app.post_json(f"/api/v1/vouchers/{voucher_id}/reverse", {"reason": "again"},
                              headers=rig.service.headers("陈审批"), status=409)


def test_sync_links_a_voucher_posted_over_there(rig):
    """The worker is down; the voucher reaches the accounting system another way
    (here: the adapter itself) and sync links it to the claim."""
    from invoice_archive.db import session_factory
    from invoice_archive.models import Claim

    claim = approved_claim(rig)
    worker = rig.worker()
    with session_factory(rig.service.engine)() as db:
        draft = rig.drafter().draft(db, db.get(Claim, claim["id"]), claim["posting"]["external_ref"])
    rig.accounting().post(draft)
    rig.fake.app.ledger.post_all()
    counts = rig.sync().run_once()
    assert counts["linked"] == 1
    after = get_claim(rig, claim["id"])
    assert after["status"] == "posted"
    assert worker.run_once() == 0                      # the queued message was settled by sync
    assert len(rig.fake.vouchers) == 1


# -- the voucher's state over there decides when the claim is posted (accounting.posted_when) --

@pytest.fixture(params=SYSTEMS)
def strict(request, db_url, tmp_path):
    """The service's default: a claim is 入账 once its voucher is posted (过账) over there."""
    with posting_rig(request.param, db_url, tmp_path / "store", posted_when="posted") as rig:
        yield rig


def test_the_claim_waits_until_the_accountants_post_the_voucher(strict):
    rig = strict
    claim = approved_claim(rig)
    rig.worker().run_once()
    waiting = get_claim(rig, claim["id"])
    assert waiting["status"] == "posting" and waiting["voucher"] is None
    assert waiting["posting"]["status"] == "pending" and waiting["posting"]["last_outcome"] == "awaiting"
    assert waiting["posting"]["remote"]["status"] == "saved"
    assert waiting["posting"]["remote"]["required"] == "posted"
    assert "待在记账系统中审核、过账后入账" in waiting["posting"]["last_error"]
    [remote] = rig.fake.vouchers

    rig.worker().run_once()                             # read again: still saved, never sent again
    assert len(rig.fake.vouchers) == 1 and get_claim(rig, claim["id"])["status"] == "posting"
    rig.fake.app.ledger.set_status(remote.id, "audited", by="李审核")
    rig.worker().run_once()
    audited = get_claim(rig, claim["id"])
    assert audited["status"] == "posting" and audited["posting"]["remote"]["status"] == "audited"

    rig.fake.app.ledger.set_status(remote.id, "posted", by="王记账")
    rig.worker().run_once()
    posted = get_claim(rig, claim["id"])
    assert posted["status"] == "posted" and posted["posting"]["status"] == "done"
    voucher = rig.service.app.get(f"/api/v1/vouchers/{posted['voucher']['id']}",
                                  headers=rig.service.headers("王审计")).json
    assert (voucher["reviewed_by"], voucher["posted_by"]) == ("李审核", "王记账")   # as the system says
    assert len(rig.fake.vouchers) == 1


def test_audited_is_enough_when_so_configured(db_url, tmp_path):
    with posting_rig("kingdee", db_url, tmp_path / "store", posted_when="audited") as rig:
        claim = approved_claim(rig)
        rig.worker().run_once()
        assert get_claim(rig, claim["id"])["status"] == "posting"
        [remote] = rig.fake.vouchers
        rig.fake.app.ledger.set_status(remote.id, "audited")
        rig.worker().run_once()
        assert get_claim(rig, claim["id"])["status"] == "posted"


def test_a_voucher_deleted_over_there_while_waiting_comes_back_to_the_claim(strict):
    rig = strict
    claim = approved_claim(rig)
    rig.worker().run_once()
    [remote] = rig.fake.vouchers
    rig.fake.app.ledger.remove(remote.id)               # the accountant deleted it instead of posting it
    rig.worker().run_once()
    after = get_claim(rig, claim["id"])
    assert after["status"] == "approved" and after["posting"]["status"] == "failed"
    assert "找不到凭证" in after["posting_error"]
    assert rig.fake.vouchers == []                      # not posted again behind the accountant's back


def test_sync_links_only_vouchers_that_reached_the_configured_state(strict):
    from invoice_archive.db import session_factory
    from invoice_archive.models import Claim

    rig = strict
    claim = approved_claim(rig)
    with session_factory(rig.service.engine)() as db:
        draft = rig.drafter().draft(db, db.get(Claim, claim["id"]), claim["posting"]["external_ref"])
    rig.accounting().post(draft)
    assert rig.sync().run_once()["linked"] == 0         # saved only
    rig.fake.app.ledger.post_all()
    assert rig.sync().run_once()["linked"] == 1
    assert get_claim(rig, claim["id"])["status"] == "posted"


def test_a_red_voucher_also_waits_for_the_accountants(db_url, tmp_path):
    with posting_rig("kingdee", db_url, tmp_path / "store", posted_when="posted") as rig:
        claim = approved_claim(rig)
        rig.worker().run_once()
        rig.fake.app.ledger.post_all()
        rig.worker().run_once()
        voucher_id = get_claim(rig, claim["id"])["voucher"]["id"]
        rig.service.app.post_json(f"/api/v1/vouchers/{voucher_id}/reverse", {"reason": "发票开错"},
                                  headers=rig.service.headers("陈审批"), status=202)
        rig.worker().run_once()
        assert get_claim(rig, claim["id"])["status"] == "posted"     # the red voucher is only saved over there
        assert len(rig.fake.vouchers) == 2
        rig.fake.app.ledger.post_all()
        rig.worker().run_once()
        assert get_claim(rig, claim["id"])["status"] == "reversed"


def test_a_voucher_not_yet_posted_in_kingdee_is_withdrawn_there(db_url, tmp_path):
    """Counted as 入账 once saved (posted_when = saved), reversed before the accountants
    posted it: K/3 Cloud deletes it (反审核 + 删除); here a red record says it no longer counts."""
    with posting_rig("kingdee", db_url, tmp_path / "store", posted_when="saved",
                     **{"accounting.auto_audit": "true"}) as rig:
        claim = approved_claim(rig)
        rig.worker().run_once()
        voucher_id = get_claim(rig, claim["id"])["voucher"]["id"]
        rig.service.app.post_json(f"/api/v1/vouchers/{voucher_id}/reverse", {"reason": "发票开错"},
                                  headers=rig.service.headers("陈审批"), status=202)
        rig.worker().run_once()
        assert rig.fake.vouchers == [] and len(rig.fake.app.ledger.deleted) == 1
        auditor = rig.service.headers("王审计")
        original = rig.service.app.get(f"/api/v1/vouchers/{voucher_id}", headers=auditor).json
        red = rig.service.app.get(f"/api/v1/vouchers/{original['reversed_by_id']}", headers=auditor).json
        assert red["red_flag"] and red["system_id"] is None and "撤回" in red["voucher_number"]
        assert "反审核并删除" in red["reason"] and red["debit_total"] == "-1060.00"
        assert all(e["summary"].startswith("[撤回") for e in red["entries"])
        assert get_claim(rig, claim["id"])["status"] == "reversed"
