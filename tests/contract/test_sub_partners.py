"""Contract: `GET /v1/wholesale/subPartners` as Webex's own OpenAPI defines it.

`webex_subpartners_spec.json` is a verbatim excerpt of webex/webex-openapi-specs
`public-spec/webex-wholesale.json` (its `source` names the commit): the path's query parameters,
its 200 schema `SubPartnersListResponse` of `SubPartner`, and the statuses it documents. The
service's answers, made through the in-process gateway as a Webex client sends the request, are
validated against those schemas, field names and types exactly (no field Webex does not define);
our own OpenAPI must say the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from dateutil.parser import isoparse

from chalicelib.api import docs
from chalicelib.domain import sub_partners
from chalicelib.domain.directory import Partner
from chalicelib.local.demo import DEMO_PARTNER, DEMO_SUB_PARTNER, OTHER_PARTNER
from tests.contract.conftest import SDK_BASE_URL, sdk_request

SPEC = json.loads((Path(__file__).with_name("webex_subpartners_spec.json")).read_text())
URL = SDK_BASE_URL + "/v1" + SPEC["path"]  # Webex's server is https://webexapis.com/v1
OURS = docs.openapi_document()


def _webex_schema(name: str) -> dict[str, Any]:
    """A Webex component as a JSON Schema, its $refs resolved from the excerpt, and (stricter than
    Webex, which allows extra fields) no property Webex does not define."""
    schema = json.loads(json.dumps(SPEC["schemas"][name]))
    for prop in schema["properties"].values():
        ref = prop.get("items", {}).get("$ref") if prop.get("type") == "array" else None
        if ref:
            prop["items"] = _webex_schema(ref.rsplit("/", 1)[1])
    schema["additionalProperties"] = False
    return schema


def _validate(body: Any) -> None:
    jsonschema.validate(body, _webex_schema("SubPartnersListResponse"))
    for item in body["items"]:
        for name in ("created", "billingStartDate"):
            if name in item:
                assert isoparse(item[name]).utcoffset().total_seconds() == 0  # an ISO-8601 UTC instant


@pytest.fixture
def nested(seeded):
    directory = seeded.directory
    directory.upsert_partner(
        Partner(
            "east-north",
            "East North",
            DEMO_SUB_PARTNER,
            "Sub-EN",
            "suspended",
            "2025-03-01T10:00:00.123Z",
            "2025-03-05T00:00:00.000Z",
        ),
        as_of=10**9,
    )
    directory.upsert_partner(Partner("east-north-1", "East North One", "east-north"), as_of=10**9)
    directory.upsert_partner(Partner("globex-sub", "Globex Sub", OTHER_PARTNER), as_of=10**9)
    return seeded


def test_the_parameters_are_webexs():
    assert {parameter["name"] for parameter in SPEC["parameters"]} == sub_partners.KNOWN_PARAMETERS
    assert all(parameter["in"] == "query" for parameter in SPEC["parameters"])
    ours = {
        parameter["name"]
        for parameter in OURS["paths"]["/v1/wholesale/subPartners"]["get"]["parameters"]
        if "name" in parameter
    }
    assert ours == sub_partners.KNOWN_PARAMETERS


def test_our_document_defines_webexs_sub_partner():
    theirs = SPEC["schemas"]["SubPartner"]["properties"]
    mine = OURS["components"]["schemas"]["SubPartner"]["properties"]
    assert set(mine) == set(theirs)
    for name, webex in theirs.items():
        resolved = mine[name]
        if "$ref" in resolved:
            resolved = OURS["components"]["schemas"][resolved["$ref"].rsplit("/", 1)[1]]
        assert resolved["type"] == webex["type"], name
        assert resolved.get("enum") == webex.get("enum"), name
    assert [state.value for state in sub_partners.ProvisioningState] == theirs["provisioningState"]["enum"]
    assert set(OURS["components"]["schemas"]["SubPartnersListResponse"]["properties"]) == set(
        SPEC["schemas"]["SubPartnersListResponse"]["properties"]
    )
    ours = set(OURS["paths"]["/v1/wholesale/subPartners"]["get"]["responses"])
    assert ours <= set(SPEC["documentedStatuses"])


def test_answers_validate_against_webexs_schema_as_a_webex_client_asks(api, nested):
    for params in (
        None,
        {"provisioningState": "active"},
        {"provisioningState": "suspended"},
        {"offset": "1", "max": "10"},
        {"offset": "10", "max": "10"},
    ):
        status, headers, text = sdk_request(api, "GET", URL, params)
        assert status == 200, text
        assert headers["Content-Type"] == "application/json"
        _validate(json.loads(text))
    _, _, text = sdk_request(api, "GET", URL)
    items = {item["orgId"]: item for item in json.loads(text)["items"]}
    assert set(items) == {DEMO_SUB_PARTNER, "east-north", "east-north-1"}
    assert items["east-north"] == {
        "orgId": "east-north",
        "subscriptionId": "Sub-EN",
        "provisioningState": "suspended",
        "created": "2025-03-01T10:00:00.123Z",
        "billingStartDate": "2025-03-05T00:00:00.000Z",
    }
    assert items["east-north-1"]["provisioningState"] == "active" and "subscriptionId" not in items["east-north-1"]


def test_webexs_example_answer_is_one_we_could_give():
    """Webex's example (whose list key, `subPartners`, disagrees with its own schema's `items`:
    the schema is the contract) has items of exactly the shape we answer."""
    path = "/v1/wholesale/subPartners"
    example = OURS["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["example"]
    _validate(example)


def test_errors_are_webexs_statuses_in_the_webex_error_shape(api, nested, tokens):
    from tests.conftest import ApiClient

    for params, status in (({"provisioningState": "ACTIVE"}, 400), ({"max": "0"}, 400), ({"offset": "x"}, 400)):
        answered, _, text = sdk_request(api, "GET", URL, params)
        body = json.loads(text)
        assert answered == status and set(body) == {"message", "errors", "trackingId"}
        assert str(answered) in SPEC["documentedStatuses"]
    other = ApiClient(tokens.mint(org_id="not-a-partner"))
    assert other.get("/v1/wholesale/subPartners").status == 403
    assert ApiClient(tokens.mint(org_id=DEMO_PARTNER)).get("/v1/wholesale/subPartners").status == 200
