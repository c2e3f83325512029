"""The lake's partition rule (domain/lake_partitions.py): content-defined, stable, contiguous."""

from __future__ import annotations

import bisect

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain.lake_partitions import cut_points, overlaps, starts_partition
from tests.oracles import partition_of

IDS = st.sets(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=6), max_size=60)


@given(IDS, st.integers(min_value=1, max_value=8))
def test_each_customer_is_in_the_partition_of_the_last_cut_at_or_before_it(customers, per_partition):
    starts = cut_points(customers, per_partition)
    assert starts[0] == "" and starts == sorted(starts)
    for customer in customers:
        partition = partition_of("org", customer, starts)
        assert partition.start <= customer and starts_partition(partition.start, per_partition) or partition.start == ""
        later = starts[bisect.bisect_right(starts, partition.start) :]
        assert all(start > customer for start in later)


@given(IDS, IDS, st.integers(min_value=2, max_value=8))
def test_a_customer_coming_or_going_moves_no_other_customer(customers, others, per_partition):
    """The cuts are a property of the ids: customers present in both sets land in the same
    partition unless a cut customer between them came or went."""
    first, second = cut_points(customers, per_partition), cut_points(customers | others, per_partition)
    for customer in customers:
        before, after = partition_of("org", customer, first), partition_of("org", customer, second)
        if before != after:  # only a new cut customer between the old start and the customer splits it
            assert before.start < after.start <= customer and after.start in others


def test_every_customer_is_a_cut_with_one_customer_per_partition():
    assert cut_points(["b", "a"], 1) == ["", "a", "b"]


def test_partition_ids_tell_orgs_and_starts_apart():
    from chalicelib.domain.lake_partitions import Partition

    ids = {Partition(org, start).partition_id for org in ("a", "a\nb", "b") for start in ("", "b", "\nb")}
    assert len(ids) == 9


def test_overlaps():
    assert overlaps("", None, None, None)
    assert overlaps("c", "f", "a", "d") and overlaps("c", "f", "e", None) and overlaps("c", None, "z", None)
    assert not overlaps("c", "f", "f", None) and not overlaps("c", "f", None, "c") and not overlaps("c", "f", "a", "c")
