"""Posting to the accounting system: drafting vouchers from claims (pure) and the
outbox handlers that send them."""
