"""The merge template of `make package` (infra/package.py): infra/template.json completed with what
the code says (the state machine's definition and substitutions, the tables' keys and indexes,
every event handler wired to its queue, stream or bucket, function names, gateway responses), so
the two cannot drift apart. See infra/package.py's docstring for the whole."""

from __future__ import annotations

import copy
import importlib
import json
import re
from pathlib import Path
from typing import Any

INFRA = Path(__file__).resolve().parent
PROJECT = INFRA.parent
TEMPLATE = INFRA / "template.json"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9]+)FunctionArn\}")

# Gateway responses beyond those chalicelib/api/gateway.py emulates: type → API Gateway's status.
EXTRA_GATEWAY_RESPONSES = {
    "BAD_REQUEST_BODY": 400,
    "BAD_REQUEST_PARAMETERS": 400,
    "EXPIRED_TOKEN": 403,
    "INVALID_SIGNATURE": 403,
    "RESOURCE_NOT_FOUND": 404,
    "REQUEST_TOO_LARGE": 413,
    "UNSUPPORTED_MEDIA_TYPE": 415,
    "THROTTLED": 429,
    "QUOTA_EXCEEDED": 429,
    "AUTHORIZER_CONFIGURATION_ERROR": 500,
    "API_CONFIGURATION_ERROR": 500,
    "INTEGRATION_FAILURE": 504,
    "INTEGRATION_TIMEOUT": 504,
}
TRACKING_HEADER_SOURCE = "method.request.header.TrackingID"
# Lambda's /tmp (MiB; 512 by default, which Chalice cannot set): a shard fetches its slice of the
# lake there whole and Assemble encodes the report's CSV there; docs/FIGURES.md "Beyond this machine"
# sizes both for the largest partner (a 5-year shard reads ~3.6 GB, a 10 M-row CSV is ~4.8 GB).
EPHEMERAL_STORAGE_MIB = {"aggregate_shard": 10240, "assemble": 10240}


# chalicelib's wings that no Lambda imports (`wbr` and `wbr dev`'s local stack, with its
# in-process Step Functions): left out of the code package, which Chalice fills with all of chalicelib/.
def _queues() -> dict[str, str]:
    """The queue name each SQS handler names (its default, chalicelib/config.py) → the queue of
    this template."""
    from chalicelib.config import Settings

    defaults = Settings()
    return {defaults.events_queue: "EventsQueue", defaults.webhook_deliveries_queue: "WebhookDeliveriesQueue"}


def _streams() -> dict[str, str]:
    """The table each DynamoDB stream handler's ARN names → the table of this template."""
    from chalicelib.config import Settings

    defaults = Settings()
    return {defaults.usage_days_table: "UsageDaysTable", defaults.reports_table: "ReportsTable"}


def _cfn(name: str) -> str:
    """The logical id Chalice's SAM generator gives the resource of `name`."""
    from chalice.utils import to_cfn_resource_name

    return "APIHandler" if name == "api_handler" else to_cfn_resource_name(name)


# ---- facts from the code ------------------------------------------------------------------


def function_names(app: Any) -> list[str]:
    """Every Lambda function Chalice makes of the app (its names, as in `.chalice/config.json`)."""
    names = ["api_handler"] if app.routes else []
    names += [handler.name for handler in app.builtin_auth_handlers]
    names += [function.name for function in app.pure_lambda_functions]
    names += [source.name for source in app.event_sources]
    return names


def table_properties(definition: dict[str, Any]) -> dict[str, Any]:
    """CreateTable arguments → AWS::DynamoDB::Table properties (the keys and indexes)."""
    properties = {key: copy.deepcopy(definition[key]) for key in ("AttributeDefinitions", "KeySchema", "BillingMode")}
    for key in ("LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        if definition.get(key):
            properties[key] = copy.deepcopy(definition[key])
    return properties


def _table_definition(dotted: str, table_name: str) -> dict[str, Any]:
    module, _, function = dotted.rpartition(".")
    return getattr(importlib.import_module(module), function)(table_name)


def gateway_responses() -> dict[str, Any]:
    """`x-amazon-apigateway-gateway-responses` of the API's OpenAPI body: the Webex error body
    for the errors API Gateway answers itself (in the body, so the API deployment includes them).

    A gateway response cannot compute: its body says `$context.requestId` (also sent as
    `x-amzn-RequestId`), its TrackingID header echoes the caller's, absent when none was sent.
    The kinds whose message can quote the request (MISSING_AUTHENTICATION_TOKEN quotes the
    Authorization header, hashed) say the fixed text the local gateway says."""
    from chalicelib.api.errors import STATUS_MESSAGES
    from chalicelib.api.gateway import GATEWAY_DESCRIPTIONS, GATEWAY_RESPONSES

    responses: dict[str, Any] = {}
    for kind, status in {**EXTRA_GATEWAY_RESPONSES, **GATEWAY_RESPONSES}.items():
        server_side = kind == "DEFAULT_5XX" or (status is not None and status >= 500)
        if status is None:
            message = STATUS_MESSAGES[500] if server_side else "The request failed."
        else:
            message = STATUS_MESSAGES.get(status, STATUS_MESSAGES[500] if server_side else "The request failed.")
        # As chalicelib.api.gateway: a 5xx says nothing of the inside; a 4xx describes what the
        # gateway said, but for the kinds whose message can carry request content.
        if server_side:
            description = json.dumps(message)
        elif kind in GATEWAY_DESCRIPTIONS:
            description = json.dumps(GATEWAY_DESCRIPTIONS[kind])
        else:
            description = "$context.error.messageString"
        body = (
            '{"message":' + json.dumps(message) + ',"errors":[{"description":' + description + "}],"
            '"trackingId":"$context.requestId"}'
        )
        response: dict[str, Any] = {
            "responseParameters": {"gatewayresponse.header.TrackingID": TRACKING_HEADER_SOURCE},
            "responseTemplates": {"application/json": body},
        }
        if status is not None:
            response["statusCode"] = str(status)
        responses[kind] = response
    return responses


# ---- the merge template -------------------------------------------------------------------


def merge_template(app: Any, asl: dict[str, Any], log_groups: bool = True) -> dict[str, Any]:
    """infra/template.json completed from the app and the ASL (see the module docstring).

    `log_groups`: the stage sets `log_retention_in_days`, so Chalice emits one log group per
    function (named after the function, which for the API handler it gets wrong: `${ApiHandler}`
    instead of `${APIHandler}`); they are named here from the FunctionName and made to exist
    before their function, so no log line is lost and Lambda never has to create them."""
    from chalice.app import DynamoDBEventConfig, S3EventConfig, SQSEventConfig

    template = json.loads(TEMPLATE.read_text())
    resources: dict[str, Any] = template["Resources"]

    def function(name: str) -> dict[str, Any]:
        return resources.setdefault(_cfn(name), {}).setdefault("Properties", {})

    for logical_id, resource in resources.items():
        dotted = resource.get("Metadata", {}).get("wbr:tableDefinition")
        if dotted:
            resource["Properties"].update(table_properties(_table_definition(dotted, logical_id)))

    functions = function_names(app)
    for name in functions:
        function(name)["FunctionName"] = {"Fn::Sub": "${AWS::StackName}-" + name}
        if name in EPHEMERAL_STORAGE_MIB:
            function(name)["EphemeralStorage"] = {"Size": EPHEMERAL_STORAGE_MIB[name]}
        if log_groups:
            log_group = _cfn(name + "-log-group")  # as Chalice names it (also for the API handler)
            resources[log_group] = {
                "DeletionPolicy": "Delete",
                "UpdateReplacePolicy": "Delete",
                "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${AWS::StackName}-" + name}},
            }
            resources[_cfn(name)]["DependsOn"] = [log_group]

    # The state machine: the ASL as printed by `wbr asl`, its placeholders bound to the functions.
    steps = sorted(set(PLACEHOLDER.findall(json.dumps(asl))))
    pure = {_cfn(lambda_function.name) for lambda_function in app.pure_lambda_functions}
    missing = [step for step in steps if step not in pure]
    if missing:
        raise SystemExit(f"the ASL names functions the app does not define: {missing} (app has {sorted(pure)})")
    machine = resources["ReportStateMachine"]["Properties"]
    machine["Definition"] = asl
    machine["DefinitionSubstitutions"] = {f"{step}FunctionArn": {"Fn::GetAtt": [step, "Arn"]} for step in steps}
    invoke = resources["ReportStateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
    invoke["Resource"] = [
        arn for step in steps for arn in ({"Fn::GetAtt": [step, "Arn"]}, {"Fn::Sub": "${" + step + ".Arn}:*"})
    ]

    # Event sources: each handler to the resource of this template that it consumes.
    queues, streams = _queues(), _streams()
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig):
            if source.queue not in queues:
                raise SystemExit(f"{source.name}: queue {source.queue!r} is none of this template's {sorted(queues)}")
            function(source.name)["Events"] = {
                _cfn(source.name + "-sqs-event-source"): {
                    "Properties": {
                        # Fn::Sub, as Chalice writes it: the merge replaces its value (a merge of
                        # two different intrinsic functions would keep both keys).
                        "Queue": {"Fn::Sub": "${" + queues[source.queue] + ".Arn}"},
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
                    }
                }
            }
        elif isinstance(source, DynamoDBEventConfig):
            table = source.stream_arn.split(":table/", 1)[-1].split("/stream/", 1)[0]
            if table not in streams:
                raise SystemExit(f"{source.name}: stream of table {table!r}, none of this template's {sorted(streams)}")
            function(source.name)["Events"] = {
                _cfn(source.name + "-dynamodb-event-source"): {
                    "Properties": {
                        "Stream": {"Fn::Sub": "${" + streams[table] + ".StreamArn}"},
                        "MaximumRetryAttempts": 10,
                        "BisectBatchOnFunctionError": True,
                    }
                }
            }
        elif isinstance(source, S3EventConfig):
            _subscribe_lake_bucket(resources, source)

    if app.routes:
        api = resources.setdefault("RestAPI", {}).setdefault("Properties", {}).setdefault("DefinitionBody", {})
        api["x-amazon-apigateway-gateway-responses"] = gateway_responses()
    return template


def _subscribe_lake_bucket(resources: dict[str, Any], source: Any) -> None:
    from chalicelib.config import Settings

    lake = Settings.from_env().lake_bucket
    if source.bucket != lake:
        raise SystemExit(
            f"@on_s3_event {source.name}: bucket {source.bucket!r}, only the lake bucket ({lake!r}) is known"
        )
    function_id = _cfn(source.name)
    permission_id = function_id + "LakeBucketPermission"
    resources[permission_id] = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "s3.amazonaws.com",
            "SourceAccount": {"Ref": "AWS::AccountId"},
            "SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:s3:::${LakeBucketName}"},
        },
    }
    bucket = resources["LakeBucket"]
    depends = bucket.setdefault("DependsOn", [])
    depends.append(permission_id)
    configurations = (
        bucket["Properties"].setdefault("NotificationConfiguration", {}).setdefault("LambdaConfigurations", [])
    )
    rules = [{"Name": "prefix", "Value": source.prefix}] if source.prefix else []
    rules += [{"Name": "suffix", "Value": source.suffix}] if source.suffix else []
    for event in source.events:
        configuration: dict[str, Any] = {"Event": event, "Function": {"Fn::GetAtt": [function_id, "Arn"]}}
        if rules:
            configuration["Filter"] = {"S3Key": {"Rules": rules}}
        configurations.append(configuration)
