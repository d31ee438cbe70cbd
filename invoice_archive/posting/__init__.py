"""Posting to the accounting system: drafting vouchers from claims (pure) and the
outbox topics that carry them (handled in ``services/posting.py``)."""

TOPIC_POST = "accounting.post"          # payload: claim_id, external_ref
TOPIC_REVERSE = "accounting.reverse"    # payload: voucher_id, external_ref, date, reason
