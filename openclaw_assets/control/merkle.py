"""Merkle tree hashing, proofs and their verification as RFC 9162 (RFC 6962's successor) defines them.

Standard library only, no database: anyone holding a signed tree head can check a proof with
these functions. Hashing rules (RFC 9162 section 2.1.1):

- leaf hash = SHA-256(0x00 || leaf bytes), interior node = SHA-256(0x01 || left || right);
- a tree of n > 1 leaves splits at k, the largest power of two smaller than n: its left side
  holds the first k leaves (a perfect subtree), its right side the other n - k;
- the empty tree's hash is SHA-256 of nothing.

So every tree is made of aligned perfect subtrees: node ``(level, index)`` covers leaves
``index * 2**level`` up to ``(index + 1) * 2**level``, and it never changes once complete.
Whoever stores those nodes (the ledger keeps the ones each leaf completes beside it) can give
any root and any proof from O(log n) of them: ``Frontier`` keeps the right edge while leaves are
appended, ``inclusion_ranges`` and ``consistency_ranges`` say which subtrees a proof is made of,
``perfect_subtrees`` splits each of those into stored nodes, and ``inclusion_proof`` /
``consistency_proof`` assemble the proofs from a node lookup. ``verify_inclusion`` and
``verify_consistency`` are the RFC 9162 section 2.1.3.2 and 2.1.4.2 algorithms.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
"""The hash of a tree with no leaves."""

Node = tuple[int, int]
"""``(level, index)``: the perfect subtree of ``2**level`` leaves starting at leaf ``index * 2**level``."""

NodeLookup = Callable[[int, int], bytes]
"""The stored hash of node ``(level, index)``."""


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2): where a tree of n leaves splits."""
    if n < 2:
        raise ValueError(f"a tree of {n} leaves does not split")
    return 1 << ((n - 1).bit_length() - 1)


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a range from the hashes of its perfect subtrees, largest (leftmost) first.

    The RFC's split puts the largest perfect subtree on the left and recurses on the rest, so
    the right side is folded first.
    """
    if not hashes:
        return EMPTY_ROOT
    value = hashes[-1]
    for left in reversed(hashes[:-1]):
        value = node_hash(left, value)
    return value


def root(leaf_hashes: Sequence[bytes]) -> bytes:
    """The tree hash of all ``leaf_hashes``, recomputed from every leaf (O(n); no stored nodes).

    Level by level: pairs are hashed together and an odd last node moves up unchanged, which
    gives the same tree as the RFC's split at the largest power of two.
    """
    if not leaf_hashes:
        return EMPTY_ROOT
    level = list(leaf_hashes)
    while len(level) > 1:
        paired = [node_hash(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def perfect_subtrees(start: int, end: int) -> list[Node]:
    """Leaves ``[start, end)`` as aligned perfect subtrees ``(level, index)``, left to right."""
    if not 0 <= start <= end:
        raise ValueError(f"not a range of leaves: [{start}, {end})")
    out = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)  # aligned: start is a multiple of 2**level
        out.append((level, start >> level))
        start += 1 << level
    return out


def node_position(level: int, index: int) -> int:
    """The leaf whose append completes node ``(level, index)``: its last leaf."""
    return ((index + 1) << level) - 1


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form the inclusion proof of leaf ``index`` in a tree of ``size``.

    RFC 9162 2.1.3.1 PATH(m, D[n]): walking down from the root, the sibling of each subtree holding
    leaf m; the proof lists them bottom-up (the leaf's own sibling first).
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    out = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index < lo + k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
    return out[::-1]


def consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes form the consistency proof from ``old_size`` to ``new_size``.

    RFC 9162 2.1.4.1 SUBPROOF(m, D[n], b); empty when old_size is 0 or equals new_size.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from a tree of {old_size} to one of {new_size}")
    if old_size in (0, new_size):
        return []
    out = []
    lo, hi, whole = 0, new_size, True
    while True:
        m, n = old_size - lo, hi - lo
        if m == n:
            if not whole:
                out.append((lo, hi))
            break
        k = split_point(n)
        if m <= k:
            out.append((lo + k, hi))
            hi = lo + k
        else:
            out.append((lo, lo + k))
            lo += k
            whole = False
    return out[::-1]


def needed_nodes(ranges: Iterable[tuple[int, int]]) -> set[Node]:
    """Every stored node the hashes of ``ranges`` are folded from."""
    return {node for start, end in ranges for node in perfect_subtrees(start, end)}


def range_hash(start: int, end: int, lookup: NodeLookup) -> bytes:
    """The hash of the subtree over leaves ``[start, end)`` from stored nodes."""
    return fold([lookup(level, index) for level, index in perfect_subtrees(start, end)])


def inclusion_proof(index: int, size: int, lookup: NodeLookup) -> list[bytes]:
    """The RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size`` leaves."""
    return [range_hash(start, end, lookup) for start, end in inclusion_ranges(index, size)]


def consistency_proof(old_size: int, new_size: int, lookup: NodeLookup) -> list[bytes]:
    """The RFC 9162 consistency proof that the tree of ``old_size`` leaves is a prefix of the one of ``new_size``."""
    return [range_hash(start, end, lookup) for start, end in consistency_ranges(old_size, new_size)]


def _bytes(value: bytes | str) -> bytes:
    """A hash given as bytes or as hex; anything else (or another length) is not a hash."""
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value)
        except ValueError:
            raise ValueError("not a hex hash") from None
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ValueError(f"a hash is {HASH_SIZE} bytes")
    return value


def verify_inclusion(
    leaf: bytes | str, index: int, size: int, proof: Sequence[bytes | str], root_hash: bytes | str
) -> bool:
    """Whether ``proof`` shows the leaf hash ``leaf`` at ``index`` in the tree of ``size`` leaves with ``root_hash``.

    RFC 9162 2.1.3.2. Hashes are bytes or hex; a malformed proof is simply not a proof (False).
    """
    try:
        value, expected = _bytes(leaf), _bytes(root_hash)
        path = [_bytes(p) for p in proof]
    except ValueError:
        return False
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    for sibling in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            value = node_hash(sibling, value)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            value = node_hash(value, sibling)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and value == expected


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes | str, new_root: bytes | str, proof: Sequence[bytes | str]
) -> bool:
    """Whether ``proof`` shows the tree of ``old_size`` leaves (``old_root``) is a prefix of ``new_size``'s.

    RFC 9162 2.1.4.2. Equal sizes need an empty proof and equal roots; every tree extends the
    empty one (old_size 0, whose root is SHA-256 of nothing) with an empty proof.
    """
    try:
        first, second = _bytes(old_root), _bytes(new_root)
        path = [_bytes(p) for p in proof]
    except ValueError:
        return False
    if not 0 <= old_size <= new_size:
        return False
    if old_size == new_size:
        return not path and first == second
    if old_size == 0:
        return not path and first == EMPTY_ROOT
    if not path:
        return False
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old tree is itself a node of the new one
        path = [first, *path]
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == first and sr == second and sn == 0


class Frontier:
    """The right edge of a growing tree: one perfect-subtree hash per set bit of its size, largest first.

    Appending a leaf merges the subtrees it completes, so an append costs O(log n) hashes and the
    root is a fold of at most log2(n) + 1 hashes. ``append`` returns the hashes of the nodes the leaf
    completed (levels 1, 2, ...), which the ledger stores so proofs never rehash leaves.
    """

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0 or len(hashes) != size.bit_count():
            raise ValueError(
                f"a tree of {size} leaves has {max(size, 0).bit_count()} perfect subtrees, not {len(hashes)}"
            )
        self.size = size
        self.hashes = list(hashes)

    @classmethod
    def load(cls, size: int, lookup: NodeLookup) -> Frontier:
        """The frontier of a stored tree of ``size`` leaves, from its O(log n) stored nodes."""
        return cls(size, [lookup(level, index) for level, index in perfect_subtrees(0, size)])

    def append(self, leaf: bytes) -> list[bytes]:
        """Add a leaf hash; the hashes of the perfect subtrees it completes, from level 1 up."""
        completed = []
        value, n = leaf, self.size
        while n & 1:
            value = node_hash(self.hashes.pop(), value)
            completed.append(value)
            n >>= 1
        self.hashes.append(value)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """The tree hash of the leaves appended so far."""
        return fold(self.hashes)
