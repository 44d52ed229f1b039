"""storageBytes as the real API bills them: snapshots are incremental per disk and chain,
so the first snapshot of a disk holds about the disk's size and later ones small deltas;
deleting one moves the data later snapshots still need into the next one."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from .models import Snapshot

# A later snapshot stores this share of its disk, per mille, chosen by its name (stable).
DELTA_PER_MILLE = (5, 30)


def _delta(snapshot: Snapshot) -> int:
    low, high = DELTA_PER_MILLE
    spread = int.from_bytes(hashlib.sha256(snapshot.name.encode()).digest()[:4], "big")
    per_mille = low + spread % (high - low + 1)
    return snapshot.full_bytes * per_mille // 1000


def stored_at_creation(new: Snapshot, existing: Iterable[Snapshot]) -> int:
    """The bytes a new snapshot stores: the whole disk when its chain holds nothing else
    (a FAILED snapshot holds no data), else a delta."""
    chain = [s for s in existing if s.chain == new.chain and not s.fails and s is not new]
    return _delta(new) if chain else new.full_bytes


def stored(snapshot: Snapshot) -> int:
    return snapshot.full_bytes if snapshot.stored_bytes is None else snapshot.stored_bytes


def after_delete(deleted: Snapshot, remaining: Iterable[Snapshot]) -> None:
    """Hand the deleted snapshot's data to the next newer snapshot of its chain (the real
    API keeps what later snapshots depend on), at most that disk's size."""
    later = [
        s
        for s in remaining
        if s.chain == deleted.chain and not s.fails and s.created >= deleted.created
    ]
    if not later:
        return
    heir = min(later, key=lambda s: (s.created, s.id))
    heir.stored_bytes = min(stored(heir) + stored(deleted), heir.full_bytes)
