"""Canary routing: which side of a deployment (primary or canary) serves a request. Pure: no Django, no ORM.

With an entity key (a customer id, a session id), the side is a function of the key alone: sha256 of the
key, its first 8 bytes as a big-endian integer, modulo 10,000 gives the key's bucket, and buckets below
`canary_percent * 100` go to the canary. Why hash rather than draw:

* Stickiness. The same customer gets the same model on every request, so they never see answers flip
  between two versions, and a canary's prediction logs can be joined to its ground truth per customer.
* No state. Any worker on any machine routes a key the same way, with no table of assignments to share.
* Monotonic. A key's bucket never changes, so raising the share from 5% to 20% moves only the keys with
  buckets in [500, 2000) to the canary; every key already on the canary stays there. Lowering it moves
  back only the keys between the two thresholds. Ramping up a canary never reshuffles anyone.
* Right share. sha256 spreads keys uniformly over the buckets, so over many keys the canary's share is
  `canary_percent` (in steps of 0.01%; the modulo bias of 2**64 mod 10,000 is about 1e-16).

Without a key (None or ""), each request is drawn at random with the same share: `random.random()`, or the
`rng` passed in (anything with a `.random()` method, such as `random.Random(seed)`), so tests can seed it.
0% always serves the primary and 100% always the canary, whatever the key.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

__all__ = ["BUCKETS", "CANARY", "PRIMARY", "bucket", "choose"]

PRIMARY = "primary"
CANARY = "canary"
BUCKETS = 10_000  # a bucket is 0.01% of traffic; a percentage covers `percent * 100` of them


def bucket(entity_key: str) -> int:
    """The key's fixed place in 0..9,999: the first 8 bytes of its sha256, modulo BUCKETS."""
    digest = hashlib.sha256(entity_key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def choose(entity_key: str | None, canary_percent: int, *, rng: Any = None) -> str:
    """The side serving one request ("canary" or "primary"): sticky per entity key, random without one."""
    if isinstance(canary_percent, bool) or not isinstance(canary_percent, int) or not 0 <= canary_percent <= 100:
        raise ValueError(f"canary_percent must be a whole number from 0 to 100, not {canary_percent!r}.")
    if entity_key is not None and not isinstance(entity_key, str):
        raise TypeError(f"entity_key must be a string or None, not {type(entity_key).__name__}.")
    if canary_percent == 0:
        return PRIMARY
    if canary_percent == 100:
        return CANARY
    if entity_key:
        return CANARY if bucket(entity_key) < canary_percent * (BUCKETS // 100) else PRIMARY
    draw = (rng or random).random()
    return CANARY if draw * 100 < canary_percent else PRIMARY
