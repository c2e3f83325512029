"""The in-memory directory (domain/directory_index.py) and its snapshot object's encoding
(adapters/directory_snapshot.py): lookups equal a brute-force filter; an object round-trips,
and anything else is refused, never read as an empty directory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.adapters.directory_snapshot import UnreadableSnapshot, decode, encode
from chalicelib.domain.directory import Customer, Partner, Sku
from chalicelib.domain.directory_index import DirectoryIndex

# Short ids over a small alphabet collide with the bounds often; a few non-ASCII characters
# check that Python's order is the order DynamoDB and the lake sort ids in (code points = UTF-8).
IDS = st.text(alphabet="abcAB09-é\U0001f600", min_size=0, max_size=4)
PARTNER_IDS = st.sampled_from(["p1", "p2", "p3", "p4"])
CUSTOMERS = st.lists(
    st.builds(Customer, IDS.filter(bool), PARTNER_IDS, st.text(max_size=3), st.booleans()),
    max_size=60,
    unique_by=lambda customer: (customer.partner_org_id, customer.org_id),
)
BOUND = st.one_of(st.none(), IDS)


def _brute_force(customers, org_ids, low, high):
    found = [
        customer
        for org_id in org_ids
        for customer in customers
        if customer.partner_org_id == org_id
        and (low is None or customer.org_id >= low)
        and (high is None or customer.org_id < high)
    ]
    # by id; ties (one id under two partners, a partner named twice) in the order the partners were named
    return sorted(found, key=lambda customer: customer.org_id)


@settings(max_examples=300, deadline=None)
@given(customers=CUSTOMERS, org_ids=st.lists(PARTNER_IDS | st.just("unknown"), max_size=5), low=BOUND, high=BOUND)
def test_customers_of_equals_a_brute_force_filter(customers, org_ids, low, high):
    index = DirectoryIndex.of([Partner("p1", "One")], customers, [])
    assert index.customers_of(org_ids, low, high) == _brute_force(customers, org_ids, low, high)


@settings(max_examples=100, deadline=None)
@given(customers=CUSTOMERS, cuts=st.lists(IDS, max_size=4))
def test_consecutive_ranges_cover_every_customer_once(customers, cuts):
    """Shards cut [None, c1), [c1, c2), … [ck, None): each customer falls in exactly one."""
    index = DirectoryIndex.of([Partner("p1", "One")], customers, [])
    bounds = [None, *sorted(set(cuts)), None]
    org_ids = ["p1", "p2", "p3", "p4"]
    pieces = [index.customers_of(org_ids, low, high) for low, high in zip(bounds, bounds[1:], strict=False)]
    assert sorted((c.org_id, c.partner_org_id) for piece in pieces for c in piece) == sorted(
        (c.org_id, c.partner_org_id) for c in customers
    )


@settings(max_examples=100, deadline=None)
@given(
    partners=st.lists(
        st.builds(Partner, IDS.filter(bool), st.text(max_size=5), st.one_of(st.none(), IDS.filter(bool))),
        min_size=1,
        max_size=5,
        unique_by=lambda partner: partner.org_id,
    ),
    customers=CUSTOMERS,
    skus=st.lists(
        st.builds(Sku, IDS.filter(bool), st.text(max_size=5), st.text(max_size=5)),
        max_size=5,
        unique_by=lambda sku: sku.sku,
    ),
    version=st.integers(min_value=0, max_value=10**9),
)
def test_a_snapshot_object_round_trips(partners, customers, skus, version):
    index = DirectoryIndex.of(partners, customers, skus)
    decoded = decode(encode(index, version), version)
    assert decoded.partners() == index.partners()
    assert decoded.skus() == index.skus()
    assert decoded.customers() == index.customers()
    assert decoded.customer_count == len(customers)


def _index() -> DirectoryIndex:
    return DirectoryIndex.of([Partner("p1", "One")], [Customer("c1", "p1", "X-1")], [Sku("s", "Calling", "")])


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"", id="empty object"),
        pytest.param(b"PAR1 not parquet at all", id="garbage"),
        pytest.param(encode(_index(), 7)[:-40], id="truncated"),
        pytest.param(encode(_index(), 6), id="another version"),
        pytest.param(encode(DirectoryIndex.of([], [], []), 7), id="no partner"),
    ],
)
def test_anything_but_the_snapshot_of_the_version_is_refused(body):
    with pytest.raises(UnreadableSnapshot):
        decode(body, 7)


def test_an_empty_directory_is_empty():
    assert DirectoryIndex.of([], [Customer("c1", "p1", "")], []).is_empty
    assert not _index().is_empty
