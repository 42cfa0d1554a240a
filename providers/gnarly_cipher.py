"""The stream cipher inside X-Gnarly: ChaCha-shaped, but not ChaCha.

Facts settled against SDK output (``shared/reference/web-signing.md`` section 3.2):

* state = 4 constant words, then the 48-byte key as 12 little-endian words; word 12 (key
  word 8) is the block counter, incremented after every 64-byte block;
* ``rounds = ((sum(w & 15 for w in key_words)) & 15) + 5`` *passes* (5..20), alternating
  a column pass and a diagonal pass whose last two quarter-rounds are unusual:
  ``(1,6,11,12) (2,7,12,13) (3,4,13,14)``; the quarter-round is ChaCha's;
* keystream block = final state + initial state, word-wise, as little-endian bytes.

Two implementations, kept equal by the tests: :func:`keystream` (scalar, for decoding and
for an explicitly given key) and :func:`keystreams` (numpy, many keys at once).
:class:`KeystreamPool` uses the latter so that encoding with a fresh random key costs a
slice (about 2 µs a key, amortised) instead of about 100 µs of Python arithmetic.
"""

from __future__ import annotations

import os
import struct

import numpy as np
import numpy.typing as npt

__all__ = [
    "BLOCK_SIZE",
    "CONSTANTS",
    "KEY_SIZE",
    "KeystreamPool",
    "keystream",
    "keystreams",
    "rounds_for",
]

CONSTANTS = (1196819126, 600974999, 3863347763, 1451689750)
KEY_SIZE = 48
BLOCK_SIZE = 64
KEY_WORDS = 12
_U32 = 0xFFFFFFFF

_KEY_WORDS = struct.Struct("<12I")
_BLOCK = struct.Struct("<16I")


def _key_words(key: bytes) -> tuple[int, ...]:
    if len(key) != KEY_SIZE:
        raise ValueError(f"an X-Gnarly key is {KEY_SIZE} bytes, got {len(key)}")
    return _KEY_WORDS.unpack(key)


def _rounds(words: tuple[int, ...]) -> int:
    return (sum(w & 15 for w in words) & 15) + 5


def rounds_for(key: bytes) -> int:
    """Return the number of passes (5..20) the cipher runs for ``key``."""
    return _rounds(_key_words(key))


def _block(state: tuple[int, ...], rounds: int) -> bytes:  # noqa: PLR0915 -- unrolled on purpose
    """Return one 64-byte keystream block for the 16-word ``state``.

    The sixteen words live in locals and the quarter-rounds are written out: list
    indexing and a quarter-round function call would cost several times more here.
    """
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10, s11, s12, s13, s14, s15 = state
    x0, x1, x2, x3, x4, x5, x6, x7 = s0, s1, s2, s3, s4, s5, s6, s7
    x8, x9, x10, x11, x12, x13, x14, x15 = s8, s9, s10, s11, s12, s13, s14, s15
    for done in range(0, rounds, 2):
        # Column pass: (0,4,8,12) (1,5,9,13) (2,6,10,14) (3,7,11,15).
        x0 = (x0 + x4) & _U32
        t = x12 ^ x0
        x12 = ((t << 16) & _U32) | (t >> 16)
        x8 = (x8 + x12) & _U32
        t = x4 ^ x8
        x4 = ((t << 12) & _U32) | (t >> 20)
        x0 = (x0 + x4) & _U32
        t = x12 ^ x0
        x12 = ((t << 8) & _U32) | (t >> 24)
        x8 = (x8 + x12) & _U32
        t = x4 ^ x8
        x4 = ((t << 7) & _U32) | (t >> 25)
        x1 = (x1 + x5) & _U32
        t = x13 ^ x1
        x13 = ((t << 16) & _U32) | (t >> 16)
        x9 = (x9 + x13) & _U32
        t = x5 ^ x9
        x5 = ((t << 12) & _U32) | (t >> 20)
        x1 = (x1 + x5) & _U32
        t = x13 ^ x1
        x13 = ((t << 8) & _U32) | (t >> 24)
        x9 = (x9 + x13) & _U32
        t = x5 ^ x9
        x5 = ((t << 7) & _U32) | (t >> 25)
        x2 = (x2 + x6) & _U32
        t = x14 ^ x2
        x14 = ((t << 16) & _U32) | (t >> 16)
        x10 = (x10 + x14) & _U32
        t = x6 ^ x10
        x6 = ((t << 12) & _U32) | (t >> 20)
        x2 = (x2 + x6) & _U32
        t = x14 ^ x2
        x14 = ((t << 8) & _U32) | (t >> 24)
        x10 = (x10 + x14) & _U32
        t = x6 ^ x10
        x6 = ((t << 7) & _U32) | (t >> 25)
        x3 = (x3 + x7) & _U32
        t = x15 ^ x3
        x15 = ((t << 16) & _U32) | (t >> 16)
        x11 = (x11 + x15) & _U32
        t = x7 ^ x11
        x7 = ((t << 12) & _U32) | (t >> 20)
        x3 = (x3 + x7) & _U32
        t = x15 ^ x3
        x15 = ((t << 8) & _U32) | (t >> 24)
        x11 = (x11 + x15) & _U32
        t = x7 ^ x11
        x7 = ((t << 7) & _U32) | (t >> 25)
        if done + 1 == rounds:
            break
        # Diagonal pass: (0,5,10,15) then the unusual (1,6,11,12) (2,7,12,13) (3,4,13,14).
        x0 = (x0 + x5) & _U32
        t = x15 ^ x0
        x15 = ((t << 16) & _U32) | (t >> 16)
        x10 = (x10 + x15) & _U32
        t = x5 ^ x10
        x5 = ((t << 12) & _U32) | (t >> 20)
        x0 = (x0 + x5) & _U32
        t = x15 ^ x0
        x15 = ((t << 8) & _U32) | (t >> 24)
        x10 = (x10 + x15) & _U32
        t = x5 ^ x10
        x5 = ((t << 7) & _U32) | (t >> 25)
        x1 = (x1 + x6) & _U32
        t = x12 ^ x1
        x12 = ((t << 16) & _U32) | (t >> 16)
        x11 = (x11 + x12) & _U32
        t = x6 ^ x11
        x6 = ((t << 12) & _U32) | (t >> 20)
        x1 = (x1 + x6) & _U32
        t = x12 ^ x1
        x12 = ((t << 8) & _U32) | (t >> 24)
        x11 = (x11 + x12) & _U32
        t = x6 ^ x11
        x6 = ((t << 7) & _U32) | (t >> 25)
        x2 = (x2 + x7) & _U32
        t = x13 ^ x2
        x13 = ((t << 16) & _U32) | (t >> 16)
        x12 = (x12 + x13) & _U32
        t = x7 ^ x12
        x7 = ((t << 12) & _U32) | (t >> 20)
        x2 = (x2 + x7) & _U32
        t = x13 ^ x2
        x13 = ((t << 8) & _U32) | (t >> 24)
        x12 = (x12 + x13) & _U32
        t = x7 ^ x12
        x7 = ((t << 7) & _U32) | (t >> 25)
        x3 = (x3 + x4) & _U32
        t = x14 ^ x3
        x14 = ((t << 16) & _U32) | (t >> 16)
        x13 = (x13 + x14) & _U32
        t = x4 ^ x13
        x4 = ((t << 12) & _U32) | (t >> 20)
        x3 = (x3 + x4) & _U32
        t = x14 ^ x3
        x14 = ((t << 8) & _U32) | (t >> 24)
        x13 = (x13 + x14) & _U32
        t = x4 ^ x13
        x4 = ((t << 7) & _U32) | (t >> 25)
    return _BLOCK.pack(
        (x0 + s0) & _U32,
        (x1 + s1) & _U32,
        (x2 + s2) & _U32,
        (x3 + s3) & _U32,
        (x4 + s4) & _U32,
        (x5 + s5) & _U32,
        (x6 + s6) & _U32,
        (x7 + s7) & _U32,
        (x8 + s8) & _U32,
        (x9 + s9) & _U32,
        (x10 + s10) & _U32,
        (x11 + s11) & _U32,
        (x12 + s12) & _U32,
        (x13 + s13) & _U32,
        (x14 + s14) & _U32,
        (x15 + s15) & _U32,
    )


def keystream(key: bytes, length: int) -> bytes:
    """Return the first ``length`` keystream bytes for a 48-byte ``key`` (scalar)."""
    words = _key_words(key)
    rounds = _rounds(words)
    state = list(CONSTANTS + words)
    blocks = []
    for _ in range(-(-length // BLOCK_SIZE)):
        blocks.append(_block(tuple(state), rounds))
        state[12] = (state[12] + 1) & _U32
    return b"".join(blocks)[:length]


_COLUMN_PASS = ((0, 4, 8, 12), (1, 5, 9, 13), (2, 6, 10, 14), (3, 7, 11, 15))
_DIAGONAL_PASS = ((0, 5, 10, 15), (1, 6, 11, 12), (2, 7, 12, 13), (3, 4, 13, 14))


def _rotate(word: npt.NDArray[np.uint32], by: int, spare: npt.NDArray[np.uint32]) -> None:
    """Rotate ``word`` left by ``by`` bits in place, using ``spare`` as scratch."""
    np.left_shift(word, by, out=spare)
    np.right_shift(word, 32 - by, out=word)
    np.bitwise_or(word, spare, out=word)


def _pass(
    x: npt.NDArray[np.uint32],
    quarters: tuple[tuple[int, int, int, int], ...],
    spare: npt.NDArray[np.uint32],
) -> None:
    """Run one pass of four quarter-rounds over every lane (column) of ``x`` in place."""
    for a, b, c, d in quarters:
        xa, xb, xc, xd = x[a], x[b], x[c], x[d]
        np.add(xa, xb, out=xa)
        np.bitwise_xor(xd, xa, out=xd)
        _rotate(xd, 16, spare)
        np.add(xc, xd, out=xc)
        np.bitwise_xor(xb, xc, out=xb)
        _rotate(xb, 12, spare)
        np.add(xa, xb, out=xa)
        np.bitwise_xor(xd, xa, out=xd)
        _rotate(xd, 8, spare)
        np.add(xc, xd, out=xc)
        np.bitwise_xor(xb, xc, out=xb)
        _rotate(xb, 7, spare)


def keystreams(keys: npt.NDArray[np.uint32], nblocks: int) -> npt.NDArray[np.uint8]:
    """Return the first ``nblocks`` keystream blocks of many keys at once.

    ``keys`` has shape ``(N, 12)``: each row is a key as its 12 little-endian words. The
    result has shape ``(N, nblocks * 64)``; row ``i`` equals
    ``keystream(key_i, nblocks * 64)``.

    Every (key, block) pair is one lane of a ``(16, N * nblocks)`` state. The round
    count differs per key, so lanes are sorted by it: after pass ``p`` the keys that need
    only ``p`` passes sit at the front, and later passes run on the remaining suffix
    only. That captures each key's state after its own pass count without masks or
    copies, and skips the work a run-everything-to-the-maximum scheme would throw away.
    """
    if keys.ndim != 2 or keys.shape[1] != KEY_WORDS:
        raise ValueError(f"keys must have shape (N, {KEY_WORDS}), got {keys.shape}")
    if nblocks < 1:
        raise ValueError("nblocks must be at least 1")
    count = keys.shape[0]
    words = keys.astype(np.uint32, copy=False)
    rounds = (np.bitwise_and(words, 15).sum(axis=1, dtype=np.uint32) & 15) + 5
    order = np.argsort(rounds, kind="stable")
    sorted_rounds = rounds[order]

    initial = np.empty((16, count, nblocks), dtype=np.uint32)
    initial[:4] = np.array(CONSTANTS, dtype=np.uint32)[:, None, None]
    initial[4:] = words[order].T[:, :, None]
    initial[12] += np.arange(nblocks, dtype=np.uint32)  # the block counter, mod 2**32
    lanes = initial.reshape(16, count * nblocks)
    state = lanes.copy()
    spare = np.empty(count * nblocks, dtype=np.uint32)

    passes = int(sorted_rounds[-1]) if count else 0
    for done in range(passes):
        # Keys with rounds <= done are finished; their lanes are left untouched.
        start = int(np.searchsorted(sorted_rounds, done, side="right")) * nblocks
        quarters = _COLUMN_PASS if done % 2 == 0 else _DIAGONAL_PASS
        _pass(state[:, start:], quarters, spare[start:])

    np.add(state, lanes, out=state)
    # (16, N, nblocks) -> (N, nblocks, 16) little-endian words -> N rows of bytes.
    ordered = state.reshape(16, count, nblocks).transpose(1, 2, 0)
    as_bytes = np.ascontiguousarray(ordered, dtype="<u4").view(np.uint8)
    result = np.empty((count, nblocks * BLOCK_SIZE), dtype=np.uint8)
    result[order] = as_bytes.reshape(count, nblocks * BLOCK_SIZE)
    return result


class KeystreamPool:
    """Fresh random keys with their keystreams, computed a batch at a time.

    X-Gnarly wants a new random key per token, and the scalar cipher costs about 100 µs
    per 4-block key; :func:`keystreams` brings that to about 2 µs by doing a whole batch
    together. :meth:`take` hands out each key exactly once.

    Not thread-safe: meant for one asyncio event loop (one thread). Give each thread its
    own pool if that ever changes.
    """

    def __init__(self, nblocks: int, batch: int = 512) -> None:
        """Prepare a pool of ``nblocks * 64``-byte keystreams, refilled ``batch`` at a time."""
        if nblocks < 1 or batch < 1:
            raise ValueError("nblocks and batch must be positive")
        self.nblocks = nblocks
        self.batch = batch
        self.length = nblocks * BLOCK_SIZE
        self.refills = 0
        self._keys = b""
        self._streams = b""
        self._next = 0

    def __len__(self) -> int:
        """Return how many keys are left before the next refill."""
        return len(self._keys) // KEY_SIZE - self._next

    def take(self) -> tuple[bytes, bytes]:
        """Return a never-used ``(48-byte key, keystream of nblocks * 64 bytes)``."""
        index = self._next
        if index * KEY_SIZE >= len(self._keys):
            self._refill()
            index = 0
        self._next = index + 1
        key_at = index * KEY_SIZE
        stream_at = index * self.length
        return (
            self._keys[key_at : key_at + KEY_SIZE],
            self._streams[stream_at : stream_at + self.length],
        )

    def _refill(self) -> None:
        raw = os.urandom(KEY_SIZE * self.batch)
        words = np.frombuffer(raw, dtype="<u4").astype(np.uint32).reshape(self.batch, KEY_WORDS)
        self._streams = keystreams(words, self.nblocks).tobytes()
        self._keys = raw
        self._next = 0
        self.refills += 1
