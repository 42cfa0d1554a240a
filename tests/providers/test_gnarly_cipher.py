"""X-Gnarly cipher: scalar and numpy keystreams agree; the pool hands out fresh keys."""

from __future__ import annotations

import random
import struct

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers import gnarly_cipher
from providers.gnarly_cipher import KeystreamPool, keystream, keystreams, rounds_for


def _key_with_rounds(rng: random.Random, rounds: int) -> bytes:
    """A random key whose low nibbles sum to give exactly ``rounds`` passes."""
    words = [rng.getrandbits(32) for _ in range(12)]
    rest = sum(w & 15 for w in words[1:])
    words[0] = (words[0] & ~15) | ((rounds - 5 - rest) & 15)
    return struct.pack("<12I", *words)


def _as_words(keys: list[bytes]) -> npt.NDArray[np.uint32]:
    return np.frombuffer(b"".join(keys), dtype="<u4").astype(np.uint32).reshape(len(keys), 12)


def test_rounds_for_zero_key_is_five() -> None:
    """A key whose words have no low bits runs the minimum of 5 passes."""
    assert rounds_for(bytes(48)) == 5


def test_rounds_for_adds_low_nibbles_mod_16() -> None:
    """Rounds = (sum of each word's low nibble, mod 16) + 5."""
    words = [15, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10]  # 15 + 1 = 16 -> 0; 0x10 has no low bits
    assert rounds_for(struct.pack("<12I", *words)) == 5
    words[1] = 0
    assert rounds_for(struct.pack("<12I", *words)) == 20


@pytest.mark.parametrize("rounds", range(5, 21))
def test_key_helper_hits_every_round_count(rounds: int) -> None:
    """The test helper really produces keys of each round count 5..20."""
    assert rounds_for(_key_with_rounds(random.Random(rounds), rounds)) == rounds


@pytest.mark.parametrize("nblocks", [1, 2, 4, 5])
def test_batch_equals_scalar_for_every_round_count(nblocks: int) -> None:
    """keystreams() equals keystream() row by row, for keys of every round count, mixed."""
    rng = random.Random(nblocks)
    keys = [_key_with_rounds(rng, r) for r in range(5, 21) for _ in range(4)]
    rng.shuffle(keys)
    batch = keystreams(_as_words(keys), nblocks)
    assert batch.shape == (len(keys), nblocks * 64)
    assert batch.dtype == np.uint8
    assert [row.tobytes() for row in batch] == [keystream(k, nblocks * 64) for k in keys]


@settings(max_examples=25, deadline=None)
@given(keys=st.lists(st.binary(min_size=48, max_size=48), min_size=1, max_size=40))
def test_batch_equals_scalar_for_random_keys(keys: list[bytes]) -> None:
    """keystreams() equals keystream() for arbitrary keys over three blocks."""
    batch = keystreams(_as_words(keys), 3)
    assert [row.tobytes() for row in batch] == [keystream(k, 192) for k in keys]


def test_batch_counter_wraps_like_scalar() -> None:
    """A block counter (key word 8) at 2**32 - 1 wraps to 0 in both implementations."""
    words = [0x01234567] * 12
    words[8] = 0xFFFFFFFF
    key = struct.pack("<12I", *words)
    assert keystreams(_as_words([key]), 3)[0].tobytes() == keystream(key, 192)


def test_batch_of_no_keys_is_empty() -> None:
    """An empty batch gives an empty (0, nblocks * 64) array."""
    assert keystreams(np.empty((0, 12), dtype=np.uint32), 2).shape == (0, 128)


def test_batch_rejects_wrong_shape() -> None:
    """Keys must come as rows of 12 words."""
    with pytest.raises(ValueError, match="shape"):
        keystreams(np.zeros((3, 11), dtype=np.uint32), 1)


def test_batch_rejects_zero_blocks() -> None:
    """At least one block must be asked for."""
    with pytest.raises(ValueError, match="nblocks"):
        keystreams(np.zeros((3, 12), dtype=np.uint32), 0)


def test_keystream_is_a_prefix_of_a_longer_one() -> None:
    """Asking for fewer bytes truncates the same stream (no per-length difference)."""
    key = bytes(range(48))
    assert keystream(key, 100) == keystream(key, 192)[:100]
    assert len(keystream(key, 100)) == 100


def test_blocks_differ_through_the_counter() -> None:
    """Consecutive 64-byte blocks differ, because word 12 counts blocks."""
    stream = keystream(bytes(48), 192)
    assert len({stream[0:64], stream[64:128], stream[128:192]}) == 3


def test_keystream_rejects_wrong_key_size() -> None:
    """A key that is not 48 bytes raises ValueError."""
    with pytest.raises(ValueError, match="48 bytes"):
        keystream(bytes(47), 64)


def test_pool_never_repeats_a_key() -> None:
    """Every take() across several refills returns a different key."""
    pool = KeystreamPool(nblocks=1, batch=16)
    keys = [pool.take()[0] for _ in range(16 * 3 + 5)]
    assert len(set(keys)) == len(keys)
    assert pool.refills == 4


def test_pool_streams_match_their_keys() -> None:
    """Each pooled keystream is the scalar keystream of the key handed out with it."""
    pool = KeystreamPool(nblocks=4, batch=8)
    for _ in range(10):
        key, stream = pool.take()
        assert len(key) == 48
        assert stream == keystream(key, 256)


def test_pool_counts_what_is_left() -> None:
    """len(pool) says how many keys remain before the next refill."""
    pool = KeystreamPool(nblocks=2, batch=5)
    assert len(pool) == 0
    pool.take()
    assert len(pool) == 4
    assert pool.length == 128


def test_pool_rejects_empty_sizes() -> None:
    """A pool needs at least one block and one key per batch."""
    with pytest.raises(ValueError, match="positive"):
        KeystreamPool(nblocks=0)


def test_constants_are_the_documented_words() -> None:
    """The four state constants are those found in the SDK."""
    assert gnarly_cipher.CONSTANTS == (1196819126, 600974999, 3863347763, 1451689750)
