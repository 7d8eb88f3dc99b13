"""deployments.routing: sticky hashing by entity key, the share over many keys, monotonic ramps, the random path."""

import hashlib
import random

import numpy as np
import pytest

from deployments import routing
from deployments.routing import CANARY, PRIMARY, bucket, choose

KEYS = [f"customer-{i}" for i in range(20_000)]


class NoRandom:
    """An rng that must not be consulted."""

    def random(self):
        raise AssertionError("the random path was taken")


class Fixed:
    def __init__(self, value):
        self.value = value

    def random(self):
        return self.value


def canary_keys(percent, keys=KEYS):
    return {key for key in keys if choose(key, percent) == CANARY}


def test_bucket_is_the_first_8_bytes_of_sha256_modulo_10000():
    for key in ("customer-1", "", "é-ü-✓", "x" * 500):
        expected = int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big") % 10_000
        assert bucket(key) == expected
    assert {bucket(key) for key in KEYS[:2000]} <= set(range(10_000))


def test_same_key_always_gets_the_same_side():
    sides = {key: choose(key, 30) for key in KEYS[:500]}
    for _ in range(3):
        assert {key: choose(key, 30, rng=NoRandom()) for key in KEYS[:500]} == sides
    assert set(sides.values()) == {CANARY, PRIMARY}


def test_keyed_side_is_decided_by_the_bucket_threshold():
    for key in KEYS[:1000]:
        assert choose(key, 25) == (CANARY if bucket(key) < 2500 else PRIMARY)


@pytest.mark.parametrize("percent", [1, 5, 10, 25, 50, 75, 90, 99])
def test_share_over_many_keys_matches_the_percentage(percent):
    share = len(canary_keys(percent)) / len(KEYS)
    p = percent / 100
    tolerance = 4 * (p * (1 - p) / len(KEYS)) ** 0.5  # four standard deviations of a binomial share
    assert abs(share - p) <= tolerance


def test_raising_the_share_moves_only_keys_between_the_thresholds():
    before, after = canary_keys(5), canary_keys(20)
    assert before <= after  # nobody on the canary leaves it
    moved = after - before
    assert moved == {key for key in KEYS if 500 <= bucket(key) < 2000}
    assert 0.13 < len(moved) / len(KEYS) < 0.17


def test_lowering_the_share_moves_back_only_keys_between_the_thresholds():
    before, after = canary_keys(60), canary_keys(35)
    assert after <= before
    assert before - after == {key for key in KEYS if 3500 <= bucket(key) < 6000}


def test_each_key_switches_to_the_canary_once_as_the_share_grows():
    for key in KEYS[:300]:
        sides = [choose(key, percent) for percent in range(101)]
        first = sides.index(CANARY)
        assert sides[:first] == [PRIMARY] * first
        assert sides[first:] == [CANARY] * (101 - first)
        assert first == bucket(key) // 100 + 1  # the smallest percent whose threshold passes the bucket


def test_zero_percent_always_serves_the_primary_and_100_the_canary():
    for key in [*KEYS[:2000], None, ""]:
        assert choose(key, 0, rng=NoRandom()) == PRIMARY
        assert choose(key, 100, rng=NoRandom()) == CANARY


@pytest.mark.parametrize("percent", [-1, 101, 5.0, 12.5, True, False, "10", None])
def test_percent_outside_0_to_100_or_not_an_integer_is_refused(percent):
    with pytest.raises(ValueError, match="from 0 to 100"):
        choose("customer-1", percent)


@pytest.mark.parametrize("key", [123, b"customer-1", ["customer-1"]])
def test_entity_key_must_be_a_string(key):
    with pytest.raises(TypeError, match="entity_key"):
        choose(key, 50)


def test_without_a_key_the_share_is_drawn_at_random_with_the_seeded_rng():
    draws = [choose(None, 30, rng=random.Random(7)) for _ in range(3)]
    assert len(set(draws)) == 1  # a fresh rng with the same seed gives the same first draw
    rng = random.Random(42)
    sides = [choose(None, 30, rng=rng) for _ in range(20_000)]
    share = sides.count(CANARY) / len(sides)
    assert abs(share - 0.30) <= 4 * (0.3 * 0.7 / 20_000) ** 0.5
    again = random.Random(42)
    assert [choose(None, 30, rng=again) for _ in range(200)] == sides[:200]


def test_an_empty_key_counts_as_no_key():
    assert choose("", 30, rng=Fixed(0.0)) == CANARY
    assert choose("", 30, rng=Fixed(0.99)) == PRIMARY


def test_random_draw_below_the_share_goes_to_the_canary():
    assert choose(None, 30, rng=Fixed(0.2999)) == CANARY
    assert choose(None, 30, rng=Fixed(0.30)) == PRIMARY  # the share is [0, 0.30)
    assert choose(None, 1, rng=Fixed(0.0)) == CANARY
    assert choose(None, 99, rng=Fixed(0.9999)) == PRIMARY


def test_a_numpy_generator_works_as_rng():
    rng = np.random.default_rng(3)
    sides = [choose(None, 50, rng=rng) for _ in range(4000)]
    assert 0.45 < sides.count(CANARY) / len(sides) < 0.55


def test_without_rng_the_module_random_is_used(monkeypatch):
    monkeypatch.setattr(routing.random, "random", lambda: 0.0)
    assert choose(None, 1) == CANARY
    monkeypatch.setattr(routing.random, "random", lambda: 0.995)
    assert choose(None, 99) == PRIMARY
