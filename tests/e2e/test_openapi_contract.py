"""The OpenAPI document (chalicelib/api/openapi.json) is held to what the service does.

Fails when a route, method, parameter, enum, field or status code drifts: the document's paths
and methods against the Chalice app's routes, its parameters and enums against the domain, and
every documented operation exercised through the HTTP layer (the local API Gateway emulation)
with each real response validated against the document: its status must be documented, its body
must match the schema exactly (no undocumented field), its headers their schemas, and every
documented status must be produced. Also: the document and its examples are valid, it is served
without a token, and the API explorer (Swagger UI) is served from vendored assets only.
"""

from __future__ import annotations

import ast
import base64
import copy
import dataclasses
import inspect
import json
import re
import textwrap
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlparse

import jsonschema
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

import app as app_module
from chalicelib.api import console, docs
from chalicelib.domain import listing, sub_partners
from chalicelib.domain.access import READ_SCOPE, WRITE_SCOPE
from chalicelib.domain.errors import ReportErrorCode
from chalicelib.domain.report_ids import new_report_id
from chalicelib.domain.reports import ReportCategory, ReportError, ReportRequest, ReportStatus, ReportType
from chalicelib.local.demo import DEMO_PARTNER, DEMO_SUB_PARTNER
from chalicelib.services.reports import ReportService
from chalicelib.services.sub_partners import SubPartnerService
from tests.conftest import TODAY, unpublish_day
from tests.e2e.conftest import ApiClient, HttpResponse

BASE = "/v1/wholesale/billing/reports"
ITEM = BASE + "/{id}"
SUB_PARTNERS = "/v1/wholesale/subPartners"
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()
MONTH_AGO = (TODAY - timedelta(days=30)).isoformat()
DOCUMENT = docs.openapi_document()
# The routes the document does not describe: its own, the explorer's, the front door, the console.
PUBLIC_ROUTES = docs.PUBLIC_ROUTES + console.PUBLIC_ROUTES
DOCUMENT_URI = "urn:wbr:openapi"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _template(path: str) -> str:
    """`/reports/{report_id}` and `/reports/{id}` are the same route."""
    return re.sub(r"\{[^}]+\}", "{}", path)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _pointer(*parts: str) -> str:
    return "#/" + "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follow an OpenAPI `$ref` (responses, headers, parameters, examples) within the document."""
    while "$ref" in node:
        target: Any = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _strict(document: dict[str, Any]) -> dict[str, Any]:
    """A copy in which every object schema, where it is used, admits no undocumented property.

    `unevaluatedProperties: false` is added at each use (a response or parameter schema, a
    property, an array's items) of an object schema, never inside `allOf`, `if` or `not`, so
    composed schemas (Report = ReportSummary + details) still see all their properties. Schemas
    that declare `additionalProperties` (the create body: unknown fields are ignored) keep it.
    """
    strict = copy.deepcopy(document)
    schemas = strict["components"]["schemas"]

    def is_object(schema: dict[str, Any]) -> bool:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[-1]
            return schema["$ref"].startswith("#/components/schemas/") and is_object(schemas[name])
        return "additionalProperties" not in schema and ("properties" in schema or "allOf" in schema)

    def use(schema: dict[str, Any]) -> None:
        if is_object(schema):
            schema["unevaluatedProperties"] = False
        walk(schema)

    def walk(schema: dict[str, Any]) -> None:
        for member in schema.get("allOf", []):
            walk(member)
        for value in schema.get("properties", {}).values():
            use(value)
        if isinstance(schema.get("items"), dict):
            use(schema["items"])

    for schema in schemas.values():
        walk(schema)
    for path_item in strict["paths"].values():
        for method, operation in path_item.items():
            if method in HTTP_METHODS:
                for response in operation["responses"].values():
                    for media in response.get("content", {}).values():
                        if "schema" in media:
                            use(media["schema"])
    return strict


STRICT = _strict(DOCUMENT)
REGISTRY = Registry().with_resource(DOCUMENT_URI, Resource(contents=STRICT, specification=DRAFT202012))


def validate(instance: Any, pointer: str) -> None:
    """Validate against the (strict) schema at `pointer` in the document, formats included."""
    validator = jsonschema.Draft202012Validator(
        {"$ref": DOCUMENT_URI + pointer},
        registry=REGISTRY,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )
    validator.validate(instance)


def _component_pointer(ref: str) -> str:
    return "#" + ref.removeprefix("#")


def operation_of(method: str, path: str) -> dict[str, Any]:
    return DOCUMENT["paths"][path][method.lower()]


def documented_statuses(method: str, path: str) -> set[int]:
    return {int(code) for code in operation_of(method, path)["responses"]}


class Contract:
    """Checks real responses against the document and records which statuses were seen."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], set[int]] = {}

    def check(self, method: str, path: str, response: HttpResponse) -> HttpResponse:
        operation = operation_of(method, path)
        status = str(response.status)
        assert status in operation["responses"], (
            f"{method} {path} answered {status}, which the document does not list: {response.body[:300]!r}"
        )
        self.seen.setdefault((method, path), set()).add(response.status)
        declared = operation["responses"][status]
        response_pointer = _pointer("paths", path, method.lower(), "responses", status)
        if "$ref" in declared:
            response_pointer = _component_pointer(declared["$ref"])
        resolved = _resolve(declared)
        content = resolved.get("content", {})
        if content:
            content_type = (response.header("Content-Type") or "").split(";")[0].strip()
            assert content_type in content, f"{method} {path} {status}: Content-Type {content_type!r}"
            body = response.json()
            validate(body, response_pointer + "/content/" + content_type.replace("/", "~1") + "/schema")
        else:
            assert not response.body, f"{method} {path} {status} has a body the document does not describe"
        for name, header in resolved.get("headers", {}).items():
            header_pointer = response_pointer + "/headers/" + name
            if "$ref" in header:
                header_pointer = _component_pointer(header["$ref"])
            value = response.header(name)
            if value is None:
                assert not _resolve(header).get("required"), f"{method} {path} {status}: no {name} header"
                continue
            validate(value, header_pointer + "/schema")
        return response

    def assert_all_seen(self, method: str, path: str) -> None:
        assert self.seen.get((method, path), set()) == documented_statuses(method, path)


@pytest.fixture
def contract() -> Contract:
    return Contract()


@pytest.fixture
def fail_with_500(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Make one use case of the report service (or of `service`) blow up (an unexpected error: a 500)."""

    def arm(name: str, service: type = ReportService) -> None:
        def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("boom: internal detail that must not leak")

        monkeypatch.setattr(service, name, explode)

    yield arm


def period(**extra: Any) -> dict[str, Any]:
    return {"billingStartDate": MONTH_AGO, "billingEndDate": YESTERDAY, **extra}


# ---- the document itself -------------------------------------------------------------------


def test_document_is_valid_openapi_3_1():
    assert DOCUMENT["openapi"].startswith("3.1.")
    OpenAPIV31SpecValidator(DOCUMENT).validate()
    served = docs.served_document(TODAY, "/dev")
    OpenAPIV31SpecValidator(served).validate()
    assert served["servers"] == [{"url": "/dev", "description": "This deployment"}]


def test_paths_and_methods_are_the_apps_routes():
    routes = {
        (_template(path), method.lower()): entry
        for path, methods in app_module.app.routes.items()
        if path not in PUBLIC_ROUTES
        for method, entry in methods.items()
    }
    documented = {
        (_template(path), method): operation
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }
    assert set(documented) == set(routes)
    for key, operation in documented.items():
        entry = routes[key]
        assert operation["operationId"] == _camel(entry.view_name), key
        assert entry.authorizer is not None and entry.authorizer.name == "jwt_authorizer", key
        body = operation.get("requestBody")
        if body:
            assert set(body["content"]) == set(entry.content_types), key
        # Path parameters: the same number, in the same places.
        path = next(p for p in DOCUMENT["paths"] if _template(p) == key[0])
        item = DOCUMENT["paths"][path]
        declared = {
            _resolve(p)["name"]
            for p in item.get("parameters", []) + operation.get("parameters", [])
            if _resolve(p)["in"] == "path"
        }
        assert declared == set(re.findall(r"\{([^}]+)\}", path))
        assert len(entry.view_args) == len(declared), key


def test_the_documents_own_routes_are_public():
    routes = app_module.app.routes
    for path in PUBLIC_ROUTES:
        for entry in routes[path].values():
            assert entry.authorizer is None, path
    assert not set(PUBLIC_ROUTES) & set(DOCUMENT["paths"])


def test_enums_and_limits_are_the_domains():
    schemas = DOCUMENT["components"]["schemas"]
    assert schemas["ReportType"]["enum"] == [member.value for member in ReportType]
    assert schemas["ReportStatus"]["enum"] == [member.value for member in ReportStatus]
    assert schemas["SortBy"]["enum"] == [member.value for member in listing.SortBy]
    assert schemas["SortBy"]["default"] == listing.ListQuery().sort_by.value
    assert schemas["Category"]["enum"] == [category.value for category in ReportCategory]
    assert schemas["ReportError"]["properties"]["code"]["enum"] == [int(code) for code in ReportErrorCode]
    list_parameters = {
        _resolve(p)["name"]: _resolve(p)
        for p in operation_of("GET", BASE)["parameters"]
        if _resolve(p)["in"] == "query"
    }
    assert set(list_parameters) == listing.KNOWN_PARAMETERS
    page_size = list_parameters["max"]["schema"]
    assert (page_size["minimum"], page_size["maximum"]) == (1, listing.MAX_PAGE_SIZE)
    assert page_size["default"] == listing.DEFAULT_PAGE_SIZE == listing.ListQuery().max_items
    assert list_parameters["cursor"]["schema"]["maxLength"] == listing.MAX_CURSOR_LENGTH
    assert schemas["ReportList"]["properties"]["items"]["maxItems"] == listing.MAX_PAGE_SIZE
    assert list_parameters["order"]["schema"]["enum"] == [order.value for order in listing.SortOrder]
    assert list_parameters["order"]["schema"]["default"] == listing.ListQuery().order.value
    assert schemas["ProvisioningState"]["enum"] == [state.value for state in sub_partners.ProvisioningState]
    sub_partner_parameters = {
        _resolve(p)["name"]: _resolve(p)["schema"]
        for p in operation_of("GET", SUB_PARTNERS)["parameters"]
        if _resolve(p)["in"] == "query"
    }
    assert set(sub_partner_parameters) == sub_partners.KNOWN_PARAMETERS
    assert (sub_partner_parameters["offset"]["minimum"], sub_partner_parameters["offset"]["maximum"]) == (
        0,
        sub_partners.MAX_OFFSET,
    )
    assert (sub_partner_parameters["max"]["minimum"], sub_partner_parameters["max"]["maximum"]) == (
        1,
        listing.MAX_PAGE_SIZE,
    )
    assert sub_partner_parameters["max"]["default"] == sub_partners.SubPartnerQuery().max_items


def test_create_body_fields_are_the_ones_the_domain_reads():
    """Every string the create validation reads from the body is a documented property, and back."""
    source = textwrap.dedent(inspect.getsource(ReportRequest.from_body))
    read = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and re.fullmatch(r"[a-z][A-Za-z]+", node.value)
    }
    body = DOCUMENT["components"]["schemas"]["CreateReportRequest"]
    assert set(body["properties"]) == read
    # the dates are required unless the report is a POINT_IN_TIME snapshot
    assert body["required"] == [] and body["else"]["required"] == ["billingStartDate", "billingEndDate"]
    assert body["if"]["properties"]["category"]["const"] == "POINT_IN_TIME"


def test_examples_are_real():
    """Every example validates against its schema; dates are in the past; ids are report ids."""
    checked = 0
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            media = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if media:
                pointer = _pointer("paths", path, method, "requestBody", "content", "application/json", "schema")
                for example in media.get("examples", {}).values():
                    validate(_resolve(example)["value"], pointer)
                    ReportRequest.from_body(
                        _resolve(example)["value"], datetime.now(timezone.utc)
                    )  # a valid request today
                    checked += 1
            for status, response in operation["responses"].items():
                pointer = _pointer("paths", path, method, "responses", status)
                if "$ref" in response:
                    pointer = _component_pointer(response["$ref"])
                for content_type, media in _resolve(response).get("content", {}).items():
                    schema = pointer + "/content/" + content_type.replace("/", "~1") + "/schema"
                    examples = [_resolve(e)["value"] for e in media.get("examples", {}).values()]
                    examples += [media["example"]] if "example" in media else []
                    for value in examples:
                        validate(value, schema)
                        checked += 1
    assert checked >= 12
    text = json.dumps(DOCUMENT)
    for day in re.findall(r"\b(\d{4}-\d{2}-\d{2})\b", text):
        assert date.fromisoformat(day) < TODAY, day
    for report_id in re.findall(r"Y2lzY29zcGFyazovL3VzL0JJTExJTkdfUkVQT1JU[A-Za-z0-9_-]+", text):
        decoded = base64.urlsafe_b64decode(report_id + "==").decode()
        assert report_id == new_report_id(uuid.UUID(decoded.rsplit("/", 1)[1])), report_id


# ---- every operation, for real ------------------------------------------------------------


def test_create(api, seeded, tokens, contract, monkeypatch, fail_with_500):
    check = contract.check
    created = check("POST", BASE, api.post(BASE, period(type="USER")))
    assert created.status == 200
    assert created.header("Location") == f"{BASE}/{created.json()['id']}"
    # An identical request while IN_PROGRESS: 200, the same report.
    assert check("POST", BASE, api.post(BASE, period(type="USER"))).json()["id"] == created.json()["id"]
    check("POST", BASE, api.post(BASE, period(type="PARTNER", internal=None, subPartnerOrgId=None, extra=1)))
    seeded.workflow.join(60)
    assert check("POST", BASE, api.post(BASE, period(type="USER"))).status == 409
    for bad in (period(type="DAILY"), period(billingEndDate=TODAY.isoformat()), {"billingEndDate": YESTERDAY}):
        assert check("POST", BASE, api.post(BASE, bad)).status == 400
    assert check("POST", BASE, api.post(BASE, raw=b"{", headers={"content-type": "application/json"})).status == 400
    assert check("POST", BASE, api.post(BASE, period(), token="not-a-jwt")).status == 401
    assert check("POST", BASE, api.post(BASE, period(), token=tokens.mint(scopes=(READ_SCOPE,)))).status == 403
    assert (
        check(
            "POST", BASE, api.post(BASE, period(subPartnerOrgId="Y2lzY29zcGFyazovL3VzL09SR0FOSVpBVElPTi9ub3BlLTE"))
        ).status
        == 403
    )
    big = b'{"pad": "' + b"x" * 20000 + b'"}'
    assert check("POST", BASE, api.post(BASE, raw=big, headers={"content-type": "application/json"})).status == 413
    assert check("POST", BASE, api.post(BASE, raw=b"a=b", headers={"content-type": "text/plain"})).status == 415
    monkeypatch.setattr(seeded.reports, "_policy", dataclasses.replace(seeded.reports._policy, max_in_progress=0))
    refused = check("POST", BASE, api.post(BASE, period(type="CUSTOMER")))
    assert refused.status == 429 and refused.header("Retry-After")
    fail_with_500("create")
    failed = check("POST", BASE, api.post(BASE, period(type="CUSTOMER")))
    assert failed.status == 500 and "boom" not in failed.body.decode()
    contract.assert_all_seen("POST", BASE)


def test_list(api, seeded, tokens, contract, fail_with_500):
    check = contract.check
    made = [api.post(BASE, period(type=kind)).json()["id"] for kind in ("USER", "CUSTOMER", "PARTNER")]
    first = check("GET", BASE, api.get(BASE + "?max=2&sortBy=id"))
    assert first.status == 200 and len(first.json()["items"]) == 2 and first.header("Link")
    cursor = parse_qs(urlparse(first.header("Link")[1 : first.header("Link").index(">")]).query)["cursor"][0]
    rest = check("GET", BASE, api.get(f"{BASE}?cursor={cursor}"))
    assert rest.header("Link") is None
    assert sorted(item["id"] for item in first.json()["items"] + rest.json()["items"]) == sorted(made)
    filtered = check(
        "GET",
        BASE,
        api.get(
            f"{BASE}?type=USER&status=IN_PROGRESS&billingStartDate={MONTH_AGO}T00:00:00.000Z"
            f"&billingEndDate={YESTERDAY}&subPartnerOrgId={DEMO_PARTNER}"
        ),
    )
    assert filtered.json()["items"] == []
    for query in ("max=0", "sortBy=name", "status=DONE", "color=red", "cursor=abc.def"):
        assert check("GET", BASE, api.get(f"{BASE}?{query}")).status == 400
    assert check("GET", BASE, api.get(BASE, token="not-a-jwt")).status == 401
    assert check("GET", BASE, api.get(BASE, token=tokens.mint(scopes=()))).status == 403
    fail_with_500("list")
    assert check("GET", BASE, api.get(BASE)).status == 500
    contract.assert_all_seen("GET", BASE)


def test_list_newest_first(api, seeded, contract):
    made = [api.post(BASE, period(type=kind)).json()["id"] for kind in ("USER", "CUSTOMER", "PARTNER")]
    first = contract.check("GET", BASE, api.get(BASE + "?max=2&sortBy=created&order=desc"))
    assert first.status == 200 and first.header("Link")
    link = first.header("Link")
    rest = contract.check("GET", BASE, api.get(link[link.index("/v1/") : link.index(">")]))
    assert [item["id"] for item in first.json()["items"] + rest.json()["items"]] == made[::-1]
    assert contract.check("GET", BASE, api.get(BASE + "?order=up")).status == 400


def test_sub_partners(api, seeded, tokens, contract, monkeypatch):
    check = contract.check
    seeded.settings = dataclasses.replace(seeded.settings, public_base_url="https://wbr.example.com")
    listed = check("GET", SUB_PARTNERS, api.get(SUB_PARTNERS))
    assert [item["orgId"] for item in listed.json()["items"]] == [DEMO_SUB_PARTNER]
    paged = check("GET", SUB_PARTNERS, api.get(SUB_PARTNERS + "?max=1&offset=0&provisioningState=active"))
    assert paged.header("Link") is None  # one sub-partner: no next page
    assert check("GET", SUB_PARTNERS, api.get(SUB_PARTNERS + "?offset=1")).json() == {"items": []}
    for query in ("max=0", "offset=-1", "provisioningState=on", "orgId=x"):
        assert check("GET", SUB_PARTNERS, api.get(f"{SUB_PARTNERS}?{query}")).status == 400
    assert check("GET", SUB_PARTNERS, api.get(SUB_PARTNERS, token="not-a-jwt")).status == 401
    assert check("GET", SUB_PARTNERS, api.get(SUB_PARTNERS, token=tokens.mint(scopes=()))).status == 403
    monkeypatch.setattr(SubPartnerService, "list", lambda *_: (_ for _ in ()).throw(RuntimeError("boom")))
    failed = check("GET", SUB_PARTNERS, api.get(SUB_PARTNERS))
    assert failed.status == 500 and "boom" not in failed.body.decode()
    contract.assert_all_seen("GET", SUB_PARTNERS)


def test_sub_partners_link(api, seeded, contract):
    """The `Link` of a next page, as documented."""
    from chalicelib.domain.directory import Partner

    seeded.settings = dataclasses.replace(seeded.settings, public_base_url="https://wbr.example.com")
    seeded.directory.upsert_partner(Partner("nested-1", "Nested", DEMO_SUB_PARTNER, provisioning_state="active"))
    page = contract.check("GET", SUB_PARTNERS, api.get(SUB_PARTNERS + "?max=1&provisioningState=active"))
    assert page.header("Link") == (
        f'<https://wbr.example.com{SUB_PARTNERS}?offset=1&max=1&provisioningState=active>; rel="next"'
    )


def test_get(api, seeded, tokens, contract, fail_with_500):
    check = contract.check
    report_id = api.post(BASE, period(type="CUSTOMER", subPartnerOrgId=DEMO_SUB_PARTNER)).json()["id"]
    seeded.workflow.join(60)
    completed = check("GET", ITEM, api.get(f"{BASE}/{report_id}")).json()
    assert completed["status"] == "COMPLETED" and completed["subPartnerOrgId"] == DEMO_SUB_PARTNER
    # An IN_PROGRESS report (its run never starts: the local runner is stopped); then it is made
    # to fail. (A report parked waiting for data: test_get_of_a_report_waiting_for_data.)
    seeded.workflow.stop_all()
    old = (TODAY - timedelta(days=300)).isoformat()
    waiting_id = api.post(BASE, {"billingStartDate": old, "billingEndDate": old}).json()["id"]
    waiting = check("GET", ITEM, api.get(f"{BASE}/{waiting_id}")).json()
    assert waiting["status"] == "IN_PROGRESS"
    report = seeded.report_store.get(DEMO_PARTNER, waiting_id)
    assert seeded.report_store.fail(report, [ReportError(ReportErrorCode.DATA_NOT_AVAILABLE, "Usage data is missing.")])
    failed = check("GET", ITEM, api.get(f"{BASE}/{waiting_id}")).json()
    assert failed["status"] == "FAILED" and failed["errors"][0]["code"] == 1001
    assert check("GET", ITEM, api.get(f"{BASE}/not-an-id")).status == 404
    assert check("GET", ITEM, api.get(f"{BASE}/{report_id}", token="not-a-jwt")).status == 401
    assert check("GET", ITEM, api.get(f"{BASE}/{report_id}", token=tokens.mint(scopes=()))).status == 403
    assert check("GET", ITEM, api.get(f"{BASE}/{new_report_id()}")).status == 404
    fail_with_500("get")
    assert check("GET", ITEM, api.get(f"{BASE}/{report_id}")).status == 500
    contract.assert_all_seen("GET", ITEM)


def test_get_of_a_report_waiting_for_data(api, seeded, contract):
    """A report over a day inside the data whose usage is not published is parked IN_PROGRESS,
    naming the day it waits for; its GET still has the documented shape."""
    unpublished = TODAY - timedelta(days=5)
    unpublish_day(seeded, unpublished)
    day = unpublished.isoformat()
    waiting_id = api.post(BASE, {"billingStartDate": day, "billingEndDate": day}).json()["id"]
    seeded.workflow.join(10)
    parked = seeded.report_store.get(DEMO_PARTNER, waiting_id)
    assert parked.status is ReportStatus.IN_PROGRESS and parked.waiting_for == unpublished and parked.run is None
    body = contract.check("GET", ITEM, api.get(f"{BASE}/{waiting_id}")).json()
    assert body["status"] == "IN_PROGRESS" and body["waitingFor"] == day
    gives_up = datetime.fromisoformat(body["created"]) + timedelta(hours=seeded.settings.data_wait_hours)
    assert body["waitingUntil"] == gives_up.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_delete(api, seeded, tokens, contract, fail_with_500):
    check = contract.check
    report_id = api.post(BASE, period()).json()["id"]
    assert (
        check("DELETE", ITEM, api.delete(f"{BASE}/{report_id}", token=tokens.mint(scopes=(READ_SCOPE,)))).status == 403
    )
    assert check("DELETE", ITEM, api.delete(f"{BASE}/{report_id}", token="not-a-jwt")).status == 401
    assert check("DELETE", ITEM, api.delete(f"{BASE}/not-an-id")).status == 404
    assert check("DELETE", ITEM, api.delete(f"{BASE}/{report_id}")).status == 204
    assert check("DELETE", ITEM, api.delete(f"{BASE}/{report_id}")).status == 404
    fail_with_500("delete")
    assert check("DELETE", ITEM, api.delete(f"{BASE}/{new_report_id()}")).status == 500
    contract.assert_all_seen("DELETE", ITEM)


def test_every_error_has_the_documented_tracking_id(api, seeded):
    response = api.get(f"{BASE}/not-an-id", headers={"TrackingID": "PARTNER_sync:42"})
    assert response.header("TrackingID") == response.json()["trackingId"] == "PARTNER_sync:42"


# ---- the document and the explorer, served ------------------------------------------------


def test_document_is_served_without_a_token(container):
    response = ApiClient().get(docs.OPENAPI_ROUTE)
    assert response.status == 200 and response.header("Content-Type").startswith("application/json")
    assert response.header("TrackingID")
    served = response.json()
    expected = docs.served_document(TODAY, "/")
    assert served == expected
    assert served["servers"] == [{"url": "/", "description": "This deployment"}]
    # Only the servers and the create examples' dates differ from the file; those are last month.
    start, end = docs.example_period(TODAY)
    assert start < end < TODAY and start.day == 1 and (end + timedelta(days=1)).day == 1
    examples = served["paths"][BASE]["post"]["requestBody"]["content"]["application/json"]["examples"]
    for example in examples.values():
        if example["value"].get("category") != "POINT_IN_TIME":
            assert (example["value"]["billingStartDate"], example["value"]["billingEndDate"]) == (str(start), str(end))
        ReportRequest.from_body(example["value"], datetime.now(timezone.utc))
    unchanged = copy.deepcopy(served)
    unchanged["servers"] = DOCUMENT["servers"]
    unchanged["paths"][BASE]["post"]["requestBody"] = DOCUMENT["paths"][BASE]["post"]["requestBody"]
    assert unchanged == DOCUMENT


def test_served_examples_create_reports(api, seeded, contract):
    served = ApiClient().get(docs.OPENAPI_ROUTE).json()
    for example in served["paths"][BASE]["post"]["requestBody"]["content"]["application/json"]["examples"].values():
        assert contract.check("POST", BASE, api.post(BASE, example["value"])).status == 200


def test_explorer_page_is_served_from_vendored_assets(container, monkeypatch):
    monkeypatch.delenv(docs.DEV_TOKEN_VARIABLE, raising=False)
    client = ApiClient()
    page = client.get(docs.EXPLORER_ROUTE)
    assert page.status == 200, (
        f"the API explorer is not served ({page.status}): {page.body[:300]!r}. "
        "Its assets are vendored by `make install` (npm pack swagger-ui-dist) into chalicelib/vendor/swagger-ui/"
    )
    assert page.header("Content-Type") == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.header("Content-Security-Policy")
    html = page.body.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(not re.match(r"^(https?:)?//", source) for source in sources), sources  # no CDN
    assert '"devToken": null' in html
    for asset, content_type in [*docs.VENDORED_ASSETS.items(), (docs.INITIALIZER, "text/javascript; charset=utf-8")]:
        assert f'docs/{asset}"' in html
        response = client.get(f"{docs.EXPLORER_ROUTE}/{asset}")
        assert response.status == 200 and response.header("Content-Type") == content_type, asset
        assert len(response.body) > 300, asset
    bundle = client.get(f"{docs.EXPLORER_ROUTE}/swagger-ui-bundle.js").body
    assert b"SwaggerUIBundle" in bundle


@pytest.mark.parametrize(
    "asset",
    [
        "package.json",
        "..",
        "..%2Fopenapi.json",
        "%2e%2e%2fdocs.py",
        "swagger-ui.js",
        "favicon-32x32.png",
        "LICENSE",
        ".swagger-ui-dist-5.35.0",
        "index.html",
    ],
)
def test_explorer_serves_nothing_but_its_asset_list(container, asset):
    response = ApiClient().get(f"{docs.EXPLORER_ROUTE}/{asset}")
    assert response.status == 404 and set(response.json()) == {"message", "errors", "trackingId"}


def test_dev_token_only_in_the_local_stage(container, monkeypatch):
    monkeypatch.setenv(docs.DEV_TOKEN_VARIABLE, "header.payload.signature")
    local = ApiClient().get(docs.EXPLORER_ROUTE).body.decode()
    assert '"devToken": "header.payload.signature"' in local
    monkeypatch.setattr(container, "settings", dataclasses.replace(container.settings, stage="dev"))
    deployed = ApiClient().get(docs.EXPLORER_ROUTE).body.decode()
    assert "header.payload.signature" not in deployed and '"devToken": null' in deployed


def test_dev_token_cannot_break_out_of_the_page(container, monkeypatch):
    monkeypatch.setenv(docs.DEV_TOKEN_VARIABLE, "</script><script>alert(1)</script>")
    html = ApiClient().get(docs.EXPLORER_ROUTE).body.decode()
    assert "</script><script>" not in html and html.count("</script>") == 3


def test_server_url_keeps_a_stage_prefix_and_honours_the_public_base_url(container, monkeypatch):
    class Request:
        context = {"path": "/dev/v1/wholesale/billing/openapi.json", "resourcePath": docs.OPENAPI_ROUTE}

    monkeypatch.setattr(type(docs.docs_api), "current_request", property(lambda self: Request()))
    assert docs._server_url() == "/dev"
    Request.context = {"path": docs.OPENAPI_ROUTE, "resourcePath": docs.OPENAPI_ROUTE}
    assert docs._server_url() == "/"
    monkeypatch.setattr(
        container, "settings", dataclasses.replace(container.settings, public_base_url="https://wbr.example.com/")
    )
    assert docs._server_url() == "https://wbr.example.com"


def test_write_scope_alone_reads(api, seeded, tokens, contract):
    """The document says read operations accept either scope."""
    write_only = tokens.mint(scopes=(WRITE_SCOPE,))
    assert contract.check("GET", BASE, api.get(BASE, token=write_only)).status == 200
    security = operation_of("GET", BASE).get("security", DOCUMENT["security"])
    assert {scope for requirement in security for scope in requirement["bearerAuth"]} == {READ_SCOPE, WRITE_SCOPE}
    for method, path in (("POST", BASE), ("DELETE", ITEM)):
        assert operation_of(method, path)["security"] == [{"bearerAuth": [WRITE_SCOPE]}]


# ---- the console's read API (DESIGN §12) ------------------------------------------------------

USAGE = "/v1/wholesale/billing/usage"
USAGE_PERIOD = f"billingStartDate={MONTH_AGO}&billingEndDate={YESTERDAY}"


@pytest.fixture
def usage_fails(fail_with_500: Any) -> Any:
    """Make one use case of the usage service blow up (an unexpected error: a 500)."""
    from chalicelib.services.usage import UsageService

    return lambda name: fail_with_500(name, UsageService)


def _a_user_row(seeded) -> dict[str, str]:
    """A USER report row of the period, from the session's demo data (through the lake)."""
    from tests.readers import usage_rows

    days = [TODAY - timedelta(days=offset) for offset in range(1, 31)]
    rows = usage_rows(seeded, seeded.calendar.published_versions(days), [DEMO_PARTNER]).to_pylist()
    return next(row for row in rows if row["user_id"])


def test_usage(api, seeded, tokens, contract, usage_fails):
    check = contract.check
    for group in ("sku", "customer"):
        answer = check("GET", USAGE, api.get(f"{USAGE}?{USAGE_PERIOD}&groupBy={group}&max=2"))
        assert answer.status == 200 and answer.header("Link") and len(answer.json()["items"]) == 2
    row = _a_user_row(seeded)
    users = check("GET", USAGE, api.get(f"{USAGE}?{USAGE_PERIOD}&groupBy=user&customerOrgId={row['customer_org_id']}"))
    assert users.status == 200 and users.json()["items"]
    internal = check("GET", USAGE, api.get(f"{USAGE}?{USAGE_PERIOD}&groupBy=sku&internal=true&subPartnerOrgId={DEMO_SUB_PARTNER}"))
    assert internal.status == 200
    for query in ("groupBy=sku", f"{USAGE_PERIOD}&groupBy=user", f"{USAGE_PERIOD}&groupBy=sku&max=0", f"{USAGE_PERIOD}&groupBy=sku&x=1"):
        assert check("GET", USAGE, api.get(f"{USAGE}?{query}")).status == 400
    assert check("GET", USAGE, api.get(f"{USAGE}?{USAGE_PERIOD}&groupBy=sku", token="not-a-jwt")).status == 401
    assert check("GET", USAGE, api.get(f"{USAGE}?{USAGE_PERIOD}&groupBy=sku", token=tokens.mint(scopes=()))).status == 403
    assert check("GET", USAGE, api.get(f"{USAGE}?{USAGE_PERIOD}&groupBy=sku&customerOrgId=nope")).status == 404
    usage_fails("totals")
    assert check("GET", USAGE, api.get(f"{USAGE}?{USAGE_PERIOD}&groupBy=sku")).status == 500
    contract.assert_all_seen("GET", USAGE)


def test_usage_series(api, seeded, tokens, contract, usage_fails):
    check = contract.check
    path = USAGE + "/series"
    assert check("GET", path, api.get(f"{path}?groupBy=sku")).json()["series"]
    assert check("GET", path, api.get(f"{path}?groupBy=customer&months=2&endMonth={TODAY:%Y-%m}")).json()["series"]
    for query in ("groupBy=user", "groupBy=sku&months=61", "groupBy=sku&endMonth=2026-13"):
        assert check("GET", path, api.get(f"{path}?{query}")).status == 400
    assert check("GET", path, api.get(f"{path}?groupBy=sku", token="not-a-jwt")).status == 401
    assert check("GET", path, api.get(f"{path}?groupBy=sku", token=tokens.mint(scopes=()))).status == 403
    assert check("GET", path, api.get(f"{path}?groupBy=sku&customerOrgId=nope")).status == 404
    usage_fails("series")
    assert check("GET", path, api.get(f"{path}?groupBy=sku")).status == 500
    contract.assert_all_seen("GET", path)


def test_usage_explain(api, seeded, tokens, contract, usage_fails):
    check = contract.check
    path = USAGE + "/explain"
    row = _a_user_row(seeded)
    key = f"sku={row['sku']}&userId={row['user_id']}&locationId={row['location_id']}&subscriptionId={row['subscription_id']}"
    explained = check("GET", path, api.get(f"{path}?{USAGE_PERIOD}&{key}"))
    assert explained.status == 200 and explained.json()["days"]
    assert check("GET", path, api.get(f"{path}?{USAGE_PERIOD}&sku=X")).status == 400
    assert check("GET", path, api.get(f"{path}?{USAGE_PERIOD}&{key}", token="not-a-jwt")).status == 401
    assert check("GET", path, api.get(f"{path}?{USAGE_PERIOD}&{key}", token=tokens.mint(scopes=()))).status == 403
    assert check("GET", path, api.get(f"{path}?{USAGE_PERIOD}&sku=X&workspaceId=nobody")).status == 404
    usage_fails("explain")
    assert check("GET", path, api.get(f"{path}?{USAGE_PERIOD}&{key}")).status == 500
    contract.assert_all_seen("GET", path)


def test_usage_availability(api, seeded, tokens, contract, usage_fails):
    check = contract.check
    path = USAGE + "/availability"
    assert check("GET", path, api.get(path)).json()["publishedThrough"] == YESTERDAY
    assert check("GET", path, api.get(f"{path}?since=1")).status == 400
    assert check("GET", path, api.get(path, token="not-a-jwt")).status == 401
    assert check("GET", path, api.get(path, token=tokens.mint(scopes=()))).status == 403
    usage_fails("availability")
    assert check("GET", path, api.get(path)).status == 500
    contract.assert_all_seen("GET", path)


def test_usage_limits_are_the_domains():
    from chalicelib.domain import usage_queries as usage_view

    schemas = DOCUMENT["components"]["schemas"]
    assert schemas["UsageGroupBy"]["enum"] == [member.value for member in usage_view.GroupBy]
    parameters = {
        _resolve(p)["name"]: _resolve(p) for p in operation_of("GET", USAGE)["parameters"] if _resolve(p)["in"] == "query"
    }
    assert set(parameters) == usage_view.UsageQuery.KNOWN
    assert parameters["max"]["schema"]["maximum"] == usage_view.MAX_PAGE_SIZE == schemas["Usage"]["properties"]["items"]["maxItems"]
    assert parameters["max"]["schema"]["default"] == usage_view.DEFAULT_PAGE_SIZE
    for path, query in (("/series", usage_view.SeriesQuery), ("/explain", usage_view.ExplainQuery)):
        names = {_resolve(p)["name"] for p in operation_of("GET", USAGE + path)["parameters"] if _resolve(p)["in"] == "query"}
        assert names == query.KNOWN, path
    months = next(_resolve(p) for p in operation_of("GET", USAGE + "/series")["parameters"] if _resolve(p)["name"] == "months")
    assert (months["schema"]["maximum"], months["schema"]["default"]) == (usage_view.MAX_SERIES_MONTHS, usage_view.DEFAULT_SERIES_MONTHS)
