"""Report ids: base64url("ciscospark://us/BILLING_REPORT/<uuid4>") without padding (ARCHITECTURE.md §2)."""

from __future__ import annotations

import base64
import uuid

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from chalicelib.domain.report_ids import REPORT_ID_PREFIX, is_report_id, new_report_id

URI_PREFIX = "ciscospark://us/BILLING_REPORT/"
FAST = settings(max_examples=150, deadline=None)


def b64url_nopad(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(report_id: str) -> str:
    return base64.urlsafe_b64decode(report_id + "=" * (-len(report_id) % 4)).decode()


def test_known_uuid_gives_the_known_id():
    fixed = uuid.UUID("5f2a3c4e-1b2d-4e6f-8a9b-0c1d2e3f4a5b")
    expected = b64url_nopad(URI_PREFIX + "5f2a3c4e-1b2d-4e6f-8a9b-0c1d2e3f4a5b")
    assert new_report_id(fixed) == expected
    assert decode(expected) == "ciscospark://us/BILLING_REPORT/5f2a3c4e-1b2d-4e6f-8a9b-0c1d2e3f4a5b"


def test_new_id_without_argument_holds_a_random_uuid4():
    first, second = new_report_id(), new_report_id()
    assert first != second
    for report_id in (first, second):
        decoded = decode(report_id)
        assert decoded.startswith(URI_PREFIX)
        assert uuid.UUID(decoded[len(URI_PREFIX) :]).version == 4


def test_prefix_is_the_encoding_of_the_fixed_part_of_the_uri():
    assert len(REPORT_ID_PREFIX) == 40
    assert base64.urlsafe_b64decode(REPORT_ID_PREFIX) == b"ciscospark://us/BILLING_REPORT"


@FAST
@given(st.uuids())
def test_new_ids_round_trip(report_uuid):
    report_id = new_report_id(report_uuid)
    assert is_report_id(report_id)
    assert report_id.startswith(REPORT_ID_PREFIX)
    assert "=" not in report_id
    assert set(report_id) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert decode(report_id) == f"ciscospark://us/BILLING_REPORT/{report_uuid}"
    assert new_report_id(report_uuid) == report_id  # deterministic


@pytest.mark.parametrize(
    "candidate",
    [
        "",
        "abc",
        "not-a-report-id",
        "!!!!",
        REPORT_ID_PREFIX,
        b64url_nopad("ciscospark://us/BILLING_REPORT/"),
        b64url_nopad("ciscospark://us/BILLING_REPORT/not-a-uuid"),
        b64url_nopad("ciscospark://us/PEOPLE/" + str(uuid.UUID(int=1))),
        b64url_nopad("ciscospark://us/ORGANIZATION/" + str(uuid.UUID(int=2))),
        b64url_nopad("ciscospark://eu/BILLING_REPORT/" + str(uuid.UUID(int=3))),
        b64url_nopad("ciscospark://us/BILLING_REPORTS/" + str(uuid.UUID(int=4))),
        b64url_nopad("ciscospark://us/BILLING_REPORT/" + str(uuid.UUID(int=5)) + "/x"),
        str(uuid.UUID(int=6)),  # a bare uuid
        "Y2lzY29zcGFyazovL3VzL0JJTExJTkdfUkVQT1JU" + "é" * 8,  # non-ascii
        "A" * 201,
    ],
)
def test_garbage_and_other_webex_ids_are_rejected(candidate):
    assert is_report_id(candidate) is False


def test_none_is_rejected():
    assert is_report_id(None) is False  # type: ignore[arg-type]


@FAST
@given(st.uuids())
def test_people_ids_are_not_report_ids(person_uuid):
    assert not is_report_id(b64url_nopad(f"ciscospark://us/PEOPLE/{person_uuid}"))


@FAST
@given(st.uuids(), st.sampled_from(["=", "==", "==="]))
def test_padded_variants_are_rejected(report_uuid, padding):
    report_id = new_report_id(report_uuid)
    assert not is_report_id(report_id + padding)
    assert not is_report_id(base64.urlsafe_b64encode((URI_PREFIX + str(report_uuid)).encode()).decode() + padding)


@FAST
@given(st.uuids())
def test_non_canonical_uuid_spellings_are_rejected(report_uuid):
    for spelling in (
        str(report_uuid).upper(),
        "{" + str(report_uuid) + "}",
        report_uuid.hex,
        "urn:uuid:" + str(report_uuid),
    ):
        assume(spelling != str(report_uuid))
        assert not is_report_id(b64url_nopad(URI_PREFIX + spelling))


@FAST
@given(st.uuids(), st.data())
def test_standard_base64_characters_are_rejected(report_uuid, data):
    report_id = new_report_id(report_uuid)
    position = data.draw(st.integers(0, len(report_id) - 1))
    for char in "+/":
        assert not is_report_id(report_id[:position] + char + report_id[position + 1 :])


@FAST
@given(st.uuids(), st.data())
def test_truncated_or_extended_ids_are_rejected(report_uuid, data):
    report_id = new_report_id(report_uuid)
    cut = data.draw(st.integers(0, len(report_id) - 1))
    assert not is_report_id(report_id[:cut])
    extra = data.draw(st.text(alphabet="ABCabc019-_", min_size=1, max_size=4))
    assert not is_report_id(report_id + extra)


@FAST
@given(st.uuids(), st.data())
def test_any_changed_character_is_rejected_or_yields_another_valid_id(report_uuid, data):
    report_id = new_report_id(report_uuid)
    position = data.draw(st.integers(0, len(report_id) - 1))
    replacement = data.draw(st.characters(codec="utf-8", exclude_characters=report_id[position]))
    tampered = report_id[:position] + replacement + report_id[position + 1 :]
    if is_report_id(tampered):
        # only possible when the change lands inside the uuid and spells another canonical uuid
        decoded = decode(tampered)
        assert decoded.startswith(URI_PREFIX)
        assert tampered == new_report_id(uuid.UUID(decoded[len(URI_PREFIX) :]))
