"""SM3 (GB/T 32905-2016) and SHA-256 of bytes: the standard's own examples, whole and
in pieces, and from many threads at once (the SM3 context is copied from one kept
at import, not looked up by name per call)."""
from __future__ import annotations

import threading

from invoice_archive.digests import sha256_hex, sm3_hasher, sm3_hex

# GB/T 32905-2016 附录 A: example 1 ("abc") and example 2 ("abcd" 16 times)
ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
ABCD16 = "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"


def test_the_standards_examples():
    assert sm3_hex(b"abc") == ABC
    assert sm3_hex(b"abcd" * 16) == ABCD16
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_incremental_hashing_matches_whole_hashing():
    h = sm3_hasher()
    for part in (b"ab", b"", b"c"):
        h.update(part)
    assert h.hexdigest() == ABC
    other = sm3_hasher()            # a fresh context each time: nothing carried over
    other.update(b"abcd" * 16)
    assert other.hexdigest() == ABCD16
    assert sm3_hasher().hexdigest() == sm3_hex(b"")


def test_threads_hash_at_the_same_time():
    data = [bytes([n]) * (1000 + n * 997) for n in range(16)]
    want = [sm3_hex(d) for d in data]
    barrier = threading.Barrier(16)
    got: list[list[str]] = [[] for _ in data]

    def work(n: int) -> None:
        barrier.wait()
        for _ in range(200):
            got[n].append(sm3_hex(data[n]))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(set(g) == {w} for g, w in zip(got, want))
