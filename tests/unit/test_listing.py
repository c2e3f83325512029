"""The list query and its tamper-evident cursor (ARCHITECTURE.md §2 List)."""

from __future__ import annotations

import base64
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.listing import (
    DEFAULT_PAGE_SIZE,
    MAX_CURSOR_LENGTH,
    MAX_PAGE_SIZE,
    Cursor,
    CursorCodec,
    ListQuery,
    SortBy,
    SortOrder,
)
from chalicelib.domain.report_ids import new_report_id
from chalicelib.domain.reports import ReportCategory, ReportStatus, ReportType

FAST = settings(max_examples=150, deadline=None)
SECRET = b"s" * 32
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def problems_of(params) -> list[str]:
    with pytest.raises(InvalidRequest) as caught:
        ListQuery.from_params(params)
    assert caught.value.status == 400
    return caught.value.problems


# --- ListQuery.from_params -------------------------------------------------------------------


def test_defaults_sort_by_billing_start_date_and_100_items():
    query = ListQuery.from_params({})
    assert query == ListQuery()
    assert query.sort_by is SortBy.BILLING_START_DATE
    assert query.max_items == DEFAULT_PAGE_SIZE == MAX_PAGE_SIZE == 100
    assert query.billing_start_date is None and query.billing_end_date is None
    assert query.report_type is None and query.status is None and query.sub_partner_org_id is None


def test_all_parameters_parsed():
    query = ListQuery.from_params(
        {
            "billingStartDate": "2026-10-01",
            "billingEndDate": "2026-10-31T00:00:00.000Z",
            "type": "CUSTOMER",
            "status": "COMPLETED",
            "subPartnerOrgId": "sub-1",
            "sortBy": "status",
            "max": "25",
        }
    )
    assert query == ListQuery(
        billing_start_date=date(2026, 10, 1),
        billing_end_date=date(2026, 10, 31),
        report_type=ReportType.CUSTOMER,
        status=ReportStatus.COMPLETED,
        sub_partner_org_id="sub-1",
        sort_by=SortBy.STATUS,
        max_items=25,
    )


@pytest.mark.parametrize("sort_by", ["id", "billingStartDate", "billingEndDate", "status", "created"])
def test_each_documented_sort_is_accepted(sort_by):
    assert ListQuery.from_params({"sortBy": sort_by}).sort_by.value == sort_by


@pytest.mark.parametrize("value", ["1", "50", "100"])
def test_max_in_range_is_accepted(value):
    assert ListQuery.from_params({"max": value}).max_items == int(value)


@pytest.mark.parametrize(
    "value",
    ["0", "101", "-1", "abc", "", " 5", "5 ", "1.5", "+5", "1e2", "1000000000000", "１０", "٣", "²"],
)
def test_max_outside_1_to_100_is_rejected(value):
    (problem,) = problems_of({"max": value})
    assert problem.startswith("max")


def test_max_with_a_non_decimal_digit_is_a_400_not_a_crash():
    with pytest.raises(InvalidRequest):
        ListQuery.from_params({"max": "²"})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sortBy", "Created"),
        ("sortBy", "ID"),
        ("sortBy", ""),
        ("status", "DONE"),
        ("status", "completed"),
        ("type", "partner"),
        ("type", "ORG"),
        ("billingStartDate", "2026-1-1"),
        ("billingEndDate", "garbage"),
        ("billingEndDate", "2026-10-01T00:00:00+02:00"),
        ("subPartnerOrgId", ""),
        ("subPartnerOrgId", "   "),
        ("subPartnerOrgId", "x" * 201),
    ],
)
def test_bad_parameter_is_rejected_and_named(name, value):
    (problem,) = problems_of({name: value})
    assert name in problem


def test_every_bad_parameter_is_named_at_once():
    problems = problems_of({"max": "0", "sortBy": "x", "status": "y", "type": "z", "billingStartDate": "q"})
    assert len(problems) == 5
    for name in ("max", "sortBy", "status", "type", "billingStartDate"):
        assert any(name in problem for problem in problems)


@pytest.mark.parametrize(
    "value",
    ["2026-10-01", "2026-10-01T00:00:00.000Z", "2026-10-01T00:00:00Z", "2026-10-01T04:00:00.5+00:00",
     "2026-09-30T22:00:00.000Z"],
)
def test_date_filters_accept_dates_and_iso_utc_datetimes(value):
    query = ListQuery.from_params({"billingStartDate": value, "billingEndDate": value})
    assert query.billing_start_date == query.billing_end_date == date(2026, 10, 1)


def test_unknown_parameters_are_ignored():
    assert ListQuery.from_params({"foo": "bar", "orgId": "x"}) == ListQuery()


# --- fingerprint -----------------------------------------------------------------------------

queries = st.builds(
    ListQuery,
    billing_start_date=st.none() | st.dates(),
    billing_end_date=st.none() | st.dates(),
    report_type=st.none() | st.sampled_from(ReportType),
    status=st.none() | st.sampled_from(ReportStatus),
    sub_partner_org_id=st.none() | st.text(min_size=1, max_size=200),
    category=st.none() | st.sampled_from(ReportCategory),
    sort_by=st.sampled_from(SortBy),
    max_items=st.integers(1, 100),
    order=st.sampled_from(SortOrder),
)


@FAST
@given(queries)
def test_fingerprint_round_trips(query):
    assert ListQuery.from_fingerprint(query.fingerprint()) == query


def test_fingerprint_is_plain_json_values():
    assert ListQuery(billing_start_date=date(2026, 10, 1), report_type=ReportType.USER).fingerprint() == {
        "billing_start_date": "2026-10-01",
        "billing_end_date": None,
        "report_type": "USER",
        "status": None,
        "sub_partner_org_id": None,
        "category": None,
        "sort_by": "billingStartDate",
        "max_items": 100,
    }


def test_the_ascending_order_leaves_the_fingerprint_as_it_always_was():
    """A query without the `order` extension has the fingerprint (so the cursor bytes) it had
    before the extension; `desc` is written, and a fingerprint without it reads as `asc`."""
    legacy = ListQuery(sort_by=SortBy.ID).fingerprint()
    assert "order" not in legacy and ListQuery.from_fingerprint(legacy).order is SortOrder.ASC
    newest_first = ListQuery(sort_by=SortBy.CREATED, order=SortOrder.DESC)
    assert newest_first.fingerprint()["order"] == "desc" and newest_first.fingerprint()["sort_by"] == "created"
    assert ListQuery.from_fingerprint(newest_first.fingerprint()) == newest_first


def test_order_and_created_are_parsed_and_checked():
    query = ListQuery.from_params({"sortBy": "created", "order": "desc"})
    assert (query.sort_by, query.order) == (SortBy.CREATED, SortOrder.DESC)
    assert ListQuery.from_params({"order": "asc"}) == ListQuery()
    for bad in ("DESC", "", "down"):
        assert problems_of({"order": bad}) == [f"order: {bad!r} is not one of asc, desc"]


def test_a_cursor_is_bound_to_its_order():
    ascending = codec.encode("partner-a", a_cursor(ListQuery(sort_by=SortBy.CREATED)))
    descending = codec.encode("partner-a", a_cursor(ListQuery(sort_by=SortBy.CREATED, order=SortOrder.DESC)))
    assert codec.decode("partner-a", descending).query.order is SortOrder.DESC
    assert codec.decode("partner-a", ascending).query.order is SortOrder.ASC
    # swapping the payloads under the other's signature is refused
    assert refused(ascending.split(".")[0] + "." + descending.split(".")[1])
    assert refused(descending.split(".")[0] + "." + ascending.split(".")[1])


# --- CursorCodec -----------------------------------------------------------------------------

codec = CursorCodec(SECRET)


def a_cursor(query=None) -> Cursor:
    return Cursor(query or ListQuery(max_items=10), "2026-10-01", new_report_id())


def refused(token: str, partner: str = "partner-a") -> bool:
    try:
        codec.decode(partner, token)
    except InvalidRequest as error:
        assert error.status == 400
        return True
    return False


def test_secret_must_be_at_least_16_bytes():
    with pytest.raises(ValueError):
        CursorCodec(b"short")
    CursorCodec(b"x" * 16)


@FAST
@given(queries, st.text(max_size=60), st.text(max_size=60), st.text(min_size=1, max_size=100))
def test_cursor_round_trips_for_the_same_partner(query, sort_value, report_id, partner):
    cursor = Cursor(query, sort_value, report_id)
    token = codec.encode(partner, cursor)
    assert len(token) <= MAX_CURSOR_LENGTH
    assert set(token) <= set(B64URL + ".")
    assert codec.decode(partner, token) == cursor


def test_cursor_is_deterministic_and_opaque():
    cursor = a_cursor()
    assert codec.encode("partner-a", cursor) == codec.encode("partner-a", cursor)
    assert "2026-10-01" not in codec.encode("partner-a", cursor)  # not a readable query string


def test_cursor_for_another_partner_is_refused():
    token = codec.encode("partner-a", a_cursor())
    assert refused(token, partner="partner-b")
    assert refused(token, partner="partner-a ")
    assert refused(token, partner="")


def test_cursor_signed_with_another_secret_is_refused():
    token = CursorCodec(b"t" * 32).encode("partner-a", a_cursor())
    assert refused(token)


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", "a.b.c", "..", "!!!.???", "abc.", ".abc", "é.é", "a" * 10 + "." + "b" * 10],
)
def test_malformed_cursors_are_refused(token):
    assert refused(token)


def test_too_long_cursor_is_refused_before_anything_else():
    assert refused("a" * (MAX_CURSOR_LENGTH + 1))
    assert refused("a" * MAX_CURSOR_LENGTH + "." + "b")


def test_payload_with_a_valid_looking_but_unsigned_query_is_refused():
    token = codec.encode("partner-a", a_cursor())
    payload, _ = token.split(".")
    forged_payload = (
        base64.urlsafe_b64encode(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).replace(b'"max_items":10', b'"max_items":99')
        )
        .decode()
        .rstrip("=")
    )
    assert forged_payload != payload
    assert refused(forged_payload + "." + token.split(".")[1])


@settings(max_examples=200, deadline=None)
@given(queries, st.data())
def test_tampering_with_any_character_is_refused(query, data):
    token = codec.encode("partner-a", Cursor(query, "2026-10-01", new_report_id()))
    position = data.draw(st.integers(0, len(token) - 1), label="position")
    replacement = data.draw(
        st.one_of(st.sampled_from(B64URL + ".=+/"), st.characters(codec="utf-8")).filter(
            lambda c: c != token[position]
        ),
        label="replacement",
    )
    tampered = token[:position] + replacement + token[position + 1 :]
    # even a change that decodes to the same bytes (spare low bits of a part's last character,
    # '+' for '-', padding) must be refused: only the exact issued spelling is accepted
    assert refused(tampered)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_truncating_or_extending_a_cursor_is_refused(data):
    token = codec.encode("partner-a", a_cursor())
    cut = data.draw(st.integers(0, len(token) - 1))
    assert refused(token[:cut])
    extra = data.draw(st.text(alphabet=B64URL + ".", min_size=1, max_size=8))
    # appending whole base64 quads to the signature would still change it; any append must be refused
    assert refused(token + extra)


def _flip_low_bit_of_last_char(part: str) -> str:
    last = B64URL.index(part[-1])
    return part[:-1] + B64URL[last ^ 1]


@pytest.mark.parametrize("variant", ["signature_low_bit", "padding_appended"])
def test_non_canonical_cursor_spellings_are_refused(variant):
    token = codec.encode("partner-a", a_cursor())
    payload, signature = token.split(".")
    if variant == "signature_low_bit":
        # 32-byte HMAC → 43 base64 characters: the last one carries 2 unused bits
        tampered = payload + "." + _flip_low_bit_of_last_char(signature)
    else:
        tampered = token + "="
    assert tampered != token
    assert refused(tampered)
