"""The audit-log hash chain: canonical form, and every kind of tampering found."""
from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from invoice_archive.archive.chain import (
    GENESIS,
    ChainFormatError,
    canonical_event,
    event_hash,
    link,
    verify_chain,
)

UTC = dt.UTC


def _event(n: int, **over: object) -> dict:
    event = {
        "id": n, "at": f"2024-06-0{n}T08:00:00+00:00", "org_id": 1, "actor": "张会计", "role": "finance",
        "action": "claim.approved", "object_type": "claim", "object_id": f"BX-2024-{n:04d}",
        "detail": {"amount": "526.00", "files": n, "note": "审批通过"},
    }
    event.update(over)
    return event


@pytest.fixture
def chain() -> list[dict]:
    return link([_event(n) for n in range(1, 6)])


def test_canonical_form_is_sorted_compact_utf8():
    data = canonical_event(_event(1))
    assert data.startswith(b'{"action":"claim.approved","actor":"\xe5\xbc\xa0')
    assert b" " not in data.replace("审批通过".encode(), b"")
    assert b'"at":"2024-06-01T08:00:00.000000Z"' in data


def test_same_instant_in_any_form_hashes_the_same():
    a = _event(1, at="2024-06-01T16:00:00+08:00")
    b = _event(1, at=dt.datetime(2024, 6, 1, 8, 0, tzinfo=UTC))
    c = _event(1, at="2024-06-01T08:00:00Z")
    assert event_hash(GENESIS, a) == event_hash(GENESIS, b) == event_hash(GENESIS, c)


def test_key_order_and_extra_keys_do_not_matter():
    event = _event(1)
    shuffled = dict(reversed(list(event.items())), hash="x", prev_hash="y")
    assert canonical_event(event) == canonical_event(shuffled)


def test_hash_is_documented_sha256():
    event = _event(1)
    expected = hashlib.sha256(b"invoice-archive/audit-chain/v1\n" + GENESIS.encode() + b"\n"
                              + canonical_event(event)).hexdigest()
    assert event_hash(GENESIS, event) == expected


@pytest.mark.parametrize("bad", [
    {"detail": {"amount": 526.0}},
    {"detail": {"amount": Decimal("526.00")}},
    {"at": "2024-06-01T08:00:00"},
    {"at": dt.datetime(2024, 6, 1, 8, 0)},
    {"id": "1"},
])
def test_values_without_a_canonical_form_are_refused(bad):
    with pytest.raises(ChainFormatError):
        canonical_event(_event(1, **bad))


def test_missing_field_is_refused():
    event = _event(1)
    del event["role"]
    with pytest.raises(ChainFormatError, match="role"):
        canonical_event(event)


def test_valid_chain(chain):
    report = verify_chain(chain)
    assert report.ok and report.checked == 5 and report.head == chain[-1]["hash"]
    assert report.to_dict()["broken_index"] is None
    assert verify_chain(chain, expected_head=chain[-1]["hash"]).ok


def test_empty_chain_is_valid():
    report = verify_chain([])
    assert report.ok and report.head == GENESIS


def test_edited_event_is_named(chain):
    chain[2]["detail"] = {**chain[2]["detail"], "amount": "5260.00"}
    report = verify_chain(chain)
    assert not report.ok
    assert (report.broken_index, report.broken_id) == (2, 3)
    assert "修改" in report.reason
    assert report.head == chain[1]["hash"]


def test_edited_event_found_without_stored_prev_hash(chain):
    rows = [{k: v for k, v in row.items() if k != "prev_hash"} for row in chain]
    rows[1]["actor"] = "李四"
    report = verify_chain(rows)
    assert not report.ok and report.broken_id == 2


def test_deleted_event_is_named(chain):
    del chain[2]
    report = verify_chain(chain)
    assert not report.ok
    assert (report.broken_index, report.broken_id) == (2, 4)
    assert "删除" in report.reason


def test_deleted_event_found_without_stored_prev_hash(chain):
    rows = [{k: v for k, v in row.items() if k != "prev_hash"} for row in chain]
    del rows[0]
    report = verify_chain(rows)
    assert not report.ok and report.broken_id == 2


def test_reordered_event_is_named(chain):
    chain[1], chain[2] = chain[2], chain[1]
    report = verify_chain(chain)
    assert not report.ok
    assert (report.broken_index, report.broken_id) == (1, 3)


def test_reordered_with_renumbered_ids_is_still_caught(chain):
    # an attacker swapping two rows and their ids: the content no longer matches the links
    a, b = chain[1], chain[2]
    chain[1], chain[2] = {**b, "id": 2}, {**a, "id": 3}
    report = verify_chain(chain)
    assert not report.ok and report.broken_index == 1


def test_truncated_tail_needs_the_head_kept_elsewhere(chain):
    head = chain[-1]["hash"]
    del chain[-1]
    assert verify_chain(chain).ok  # undetectable from the rows alone
    report = verify_chain(chain, expected_head=head)
    assert not report.ok and "末尾" in report.reason


def test_segment_from_a_checkpoint(chain):
    assert verify_chain(chain[2:], start_hash=chain[1]["hash"]).ok
    assert not verify_chain(chain[2:]).ok
