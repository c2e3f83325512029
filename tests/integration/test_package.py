"""The CloudFormation template that `make package` produces (docs/DEPLOY.md, ARCHITECTURE.md §8).

`infra/package.py`'s `render_template()` runs the same Chalice SAM generation and merge as
`make package`, without building the code packages (no pip, no network: a few seconds), and
these tests check what a deployment relies on. CI also runs `make package lint-template`
(cfn-lint, zero errors) on the real output.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters import (
    dynamo_directory,
    dynamo_report_store,
    dynamo_schedule_store,
    dynamo_webhook_store,
    usage_calendar,
)
from chalicelib.adapters.event_log import S3DeadLetters
from chalicelib.api import events
from chalicelib.api.gateway import GATEWAY_DESCRIPTIONS
from chalicelib.cli import main as cli
from chalicelib.domain.reports import report_parts_prefix
from chalicelib.runtime.workflow import STEP_FUNCTIONS, function_arn_placeholder, to_asl

PROJECT = Path(__file__).resolve().parents[2]


def _load_packager() -> Any:
    spec = importlib.util.spec_from_file_location("wbr_infra_package", PROJECT / "infra" / "package.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wbr_asl() -> dict[str, Any]:
    """What `make package` feeds in: the output of `wbr asl`."""
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        assert cli.main(["asl"]) == 0
    return json.loads(output.getvalue())


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    environ = dict(os.environ)
    rendered = _load_packager().render_template("prod", _wbr_asl())
    assert dict(os.environ) == environ, "packaging leaked the stage's environment into the process"
    return rendered


def _resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: resource for name, resource in template["Resources"].items() if resource.get("Type") == kind}


def _functions(template: dict[str, Any]) -> dict[str, Any]:
    return _resources(template, "AWS::Serverless::Function")


def _substitute(value: Any, mapping: dict[str, str]) -> Any:
    text = json.dumps(value)
    for name, replacement in mapping.items():
        text = text.replace("${" + name + "}", replacement)
    return json.loads(text)


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        statement for policy in role["Properties"]["Policies"] for statement in policy["PolicyDocument"]["Statement"]
    ]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---- the state machine --------------------------------------------------------------------


def test_state_machine_definition_is_the_generated_asl(template: dict[str, Any]) -> None:
    machine = template["Resources"]["ReportStateMachine"]["Properties"]
    substitutions = machine["DefinitionSubstitutions"]
    placeholders = {function_arn_placeholder(step)[2:-1] for step in STEP_FUNCTIONS}
    assert set(substitutions) == placeholders
    fake_arns = {name: f"arn:aws:lambda:us-east-1:123456789012:function:{name}" for name in substitutions}
    assert _substitute(machine["Definition"], fake_arns) == _substitute(to_asl(), fake_arns)
    assert "FunctionArn}" not in json.dumps(_substitute(machine["Definition"], fake_arns))


def test_every_lambda_of_the_asl_exists_and_runs_its_step(template: dict[str, Any]) -> None:
    functions = _functions(template)
    substitutions = template["Resources"]["ReportStateMachine"]["Properties"]["DefinitionSubstitutions"]
    invocable = _statements(template["Resources"]["ReportStateMachineRole"])[0]
    for step in STEP_FUNCTIONS:
        target = substitutions[function_arn_placeholder(step)[2:-1]]
        logical_id, attribute = target["Fn::GetAtt"]
        assert attribute == "Arn"
        assert logical_id in functions, f"{step}: no function {logical_id}"
        assert functions[logical_id]["Properties"]["Handler"].endswith("." + step)
        assert {"Fn::GetAtt": [logical_id, "Arn"]} in invocable["Resource"]
    assert invocable["Action"] == "lambda:InvokeFunction"


def test_state_machine_arn_given_to_functions_is_the_state_machine(template: dict[str, Any]) -> None:
    machine = template["Resources"]["ReportStateMachine"]["Properties"]
    arn = template["Globals"]["Function"]["Environment"]["Variables"]["WBR_STATE_MACHINE_ARN"]["Fn::Sub"]
    assert arn.endswith(":stateMachine:" + machine["StateMachineName"]["Fn::Sub"])


# ---- functions, environment, IAM ----------------------------------------------------------


def _variables_the_code_reads() -> set[str]:
    names: set[str] = set()
    for path in (PROJECT / "chalicelib").rglob("*.py"):
        source = path.read_text()
        names |= set(re.findall(r"""(?:environ\.get|text|number)\(\s*["']([A-Z][A-Z0-9_]+)["']""", source))
    return names


def test_environment_matches_what_the_code_reads(template: dict[str, Any]) -> None:
    read = _variables_the_code_reads()
    global_variables = template["Globals"]["Function"]["Environment"]["Variables"]
    unknown = set(global_variables) - read
    assert not unknown, f"variables no code reads: {unknown}"
    required = {
        "WBR_REPORTS_TABLE",
        "WBR_USAGE_DAYS_TABLE",
        "WBR_DIRECTORY_TABLE",
        "WBR_LAKE_BUCKET",
        "WBR_REPORTS_BUCKET",
        "WBR_STATE_MACHINE_ARN",
        "WBR_JWKS_URL",
        "WBR_JWT_ISSUER",
        "WBR_JWT_AUDIENCE",
        "WBR_CURSOR_SECRET",
    }
    assert required <= set(global_variables)
    for name, function in _functions(template).items():
        own = function["Properties"]["Environment"]["Variables"]
        assert not (set(own) & set(global_variables)), f"{name} overrides the stack's resources with literals"
        assert own["WBR_STAGE"] == "prod" and own["WBR_WORKFLOW_MODE"] == "stepfunctions"
        assert own["POWERTOOLS_SERVICE_NAME"] == "wholesale-billing-reports"


def test_every_function_has_its_own_least_privilege_role(template: dict[str, Any]) -> None:
    roles = _resources(template, "AWS::IAM::Role")
    for name, function in _functions(template).items():
        properties = function["Properties"]
        # named after the stack, so the policies' /aws/lambda/<stack>-* log statement covers it
        assert properties["FunctionName"]["Fn::Sub"].startswith("${AWS::StackName}-"), name
        role_id = properties["Role"]["Fn::GetAtt"][0]
        for statement in _statements(roles[role_id]):
            assert statement["Effect"] == "Allow"
            for action in _as_list(statement["Action"]):
                assert not action.endswith("*"), f"{role_id}: wildcard action {action}"
            if statement["Resource"] == "*":
                assert all(
                    action.split(":")[0] == "xray" or action == "dynamodb:ListStreams"
                    for action in _as_list(statement["Action"])
                ), f"{role_id}: {statement['Action']} on every resource"
    role_ids = [function["Properties"]["Role"]["Fn::GetAtt"][0] for function in _functions(template).values()]
    assert len(set(role_ids)) == len(role_ids)
    authorizer = _statements(roles["JwtAuthorizerRole"])
    assert {action.split(":")[0] for statement in authorizer for action in _as_list(statement["Action"])} == {
        "logs",
        "xray",
    }


def test_sqs_ingestion_reports_partial_batch_failures(template: dict[str, Any]) -> None:
    functions = _functions(template)
    function = functions["OnProvisioningEvents"]
    (event,) = function["Properties"]["Events"].values()
    assert event["Type"] == "SQS"
    assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["Properties"]["Queue"] == {"Fn::Sub": "${EventsQueue.Arn}"}
    queue = template["Resources"]["EventsQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * function["Properties"]["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]}
    actions = {
        action
        for statement in _statements(template["Resources"]["OnProvisioningEventsRole"])
        for action in _as_list(statement["Action"])
    }
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} <= actions


def test_dropped_files_under_incoming_reach_their_handler(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["LakeBucket"]
    (configuration,) = bucket["Properties"]["NotificationConfiguration"]["LambdaConfigurations"]
    assert configuration["Function"] == {"Fn::GetAtt": ["OnDroppedEvents", "Arn"]}
    assert configuration["Event"] == "s3:ObjectCreated:*"
    assert configuration["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": events.INCOMING_PREFIX}]
    permission = template["Resources"][bucket["DependsOn"][0]]
    assert permission["Type"] == "AWS::Lambda::Permission"
    assert permission["Properties"]["Principal"] == "s3.amazonaws.com"


def test_schedules_are_packaged(template: dict[str, Any]) -> None:
    functions = _functions(template)
    schedules = {
        name: event["Properties"]["Schedule"]
        for name, function in functions.items()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "Schedule"
    }
    assert schedules == {"SweepOverdueReports": "rate(10 minutes)", "RateYesterday": "cron(0 1 * * ? *)"}


# ---- storage ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("logical_id", "definition"),
    [
        ("ReportsTable", dynamo_report_store.table_definition),
        ("UsageDaysTable", usage_calendar.table_definition),
        ("DirectoryTable", dynamo_directory.table_definition),
        ("WebhooksTable", dynamo_webhook_store.table_definition),
        ("SchedulesTable", dynamo_schedule_store.table_definition),
    ],
)
def test_tables_are_the_adapters_definitions(template: dict[str, Any], logical_id: str, definition: Any) -> None:
    resource = template["Resources"][logical_id]
    properties = resource["Properties"]
    expected = definition("any")
    for key in ("AttributeDefinitions", "KeySchema", "LocalSecondaryIndexes", "GlobalSecondaryIndexes"):
        assert properties.get(key) == expected.get(key), key
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert resource["DeletionPolicy"] == "Retain"


def test_reports_table_has_the_sort_indexes(template: dict[str, Any]) -> None:
    properties = template["Resources"]["ReportsTable"]["Properties"]
    local = {index["IndexName"] for index in properties["LocalSecondaryIndexes"]}
    global_ = {index["IndexName"] for index in properties["GlobalSecondaryIndexes"]}
    assert local | global_ == {index for index, _ in dynamo_report_store.SORT_INDEXES.values() if index}
    # the sort added after the table was made is a GSI: CloudFormation adds it in place (a new LSI
    # would replace the table, and its data with it)
    assert global_ == {"byCreated"} and "bySortStart" in local


def test_usage_days_stream_feeds_its_handler(template: dict[str, Any]) -> None:
    table = template["Resources"]["UsageDaysTable"]["Properties"]
    assert table["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    stream_events = [
        event
        for function in _functions(template).values()
        for event in function["Properties"].get("Events", {}).values()
        if event["Type"] == "DynamoDB"
    ]
    (event,) = _functions(template)["OnUsageDayPublished"]["Properties"]["Events"].values()
    assert event["Properties"]["Stream"] == {"Fn::Sub": "${UsageDaysTable.StreamArn}"}
    assert {json.dumps(event["Properties"]["Stream"]) for event in stream_events} == {
        json.dumps({"Fn::Sub": "${UsageDaysTable.StreamArn}"}),
        json.dumps({"Fn::Sub": "${ReportsTable.StreamArn}"}),
    }


def test_webhooks_are_packaged(template: dict[str, Any]) -> None:
    """The reports stream feeds the settled-report handler; deliveries have their own queue
    (partial batch failures, a DLQ) and handler; events reach the stack's bus."""
    resources, functions = template["Resources"], _functions(template)
    assert resources["ReportsTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    (stream,) = functions["OnReportSettled"]["Properties"]["Events"].values()
    assert stream["Type"] == "DynamoDB"
    assert stream["Properties"]["Stream"] == {"Fn::Sub": "${ReportsTable.StreamArn}"}
    delivery = functions["OnWebhookDelivery"]
    (queued,) = delivery["Properties"]["Events"].values()
    assert queued["Type"] == "SQS" and queued["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert queued["Properties"]["Queue"] == {"Fn::Sub": "${WebhookDeliveriesQueue.Arn}"}
    queue = resources["WebhookDeliveriesQueue"]["Properties"]
    assert queue["VisibilityTimeout"] >= 6 * delivery["Properties"]["Timeout"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["WebhookDeliveriesDeadLetterQueue", "Arn"]}
    assert resources["EventBus"]["Type"] == "AWS::Events::EventBus"
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["WBR_EVENT_BUS"] == {"Ref": "EventBus"}
    assert variables["WBR_WEBHOOKS_TABLE"] == {"Ref": "WebhooksTable"}
    assert variables["WBR_WEBHOOK_DELIVERIES_QUEUE"] == {"Fn::GetAtt": ["WebhookDeliveriesQueue", "QueueName"]}

    def actions(role: str) -> set[str]:
        return {action for statement in _statements(resources[role]) for action in _as_list(statement["Action"])}

    assert {"events:PutEvents", "sqs:SendMessage", "dynamodb:Query", "dynamodb:GetRecords"} <= actions(
        "OnReportSettledRole"
    )
    assert {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage", "dynamodb:UpdateItem"} <= actions(
        "OnWebhookDeliveryRole"
    )
    assert "events:PutEvents" not in actions("OnWebhookDeliveryRole")
    assert {"dynamodb:PutItem", "dynamodb:DeleteItem"} <= actions("ApiHandlerRole")


class _RecordingS3:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def put_object(self, **arguments: Any) -> None:
        self.keys.append(arguments["Key"])


def _lifecycle(bucket: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rule.get("Prefix", ""): rule for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}


def test_buckets_are_private_encrypted_and_tls_only(template: dict[str, Any]) -> None:
    policies = {
        policy["Properties"]["Bucket"]["Ref"]: policy["Properties"]["PolicyDocument"]
        for policy in _resources(template, "AWS::S3::BucketPolicy").values()
    }
    buckets = _resources(template, "AWS::S3::Bucket")
    assert set(buckets) == {"LakeBucket", "ReportsBucket"}
    for name, bucket in buckets.items():
        properties = bucket["Properties"]
        assert set(properties["PublicAccessBlockConfiguration"].values()) == {True}
        assert len(properties["PublicAccessBlockConfiguration"]) == 4
        (encryption,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert properties["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
        (deny,) = policies[name]["Statement"]
        assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
        assert _lifecycle(bucket)[""]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}


def test_lifecycle_expires_parts_and_dead_letters_where_the_code_writes_them(template: dict[str, Any]) -> None:
    parts_root = report_parts_prefix("partner", "report", 1).split("/")[0] + "/"
    assert _lifecycle(template["Resources"]["ReportsBucket"])[parts_root]["ExpirationInDays"] == 1
    s3 = _RecordingS3()
    S3DeadLetters(s3, "lake").put([("{}", "bad")], source="test")
    dead_letters_root = s3.keys[0].split("/")[0] + "/"
    expiry = _lifecycle(template["Resources"]["LakeBucket"])[dead_letters_root]["ExpirationInDays"]
    assert expiry == {"Ref": "DeadLetterRetentionDays"}
    assert template["Parameters"]["DeadLetterRetentionDays"]["Default"] == 90


# ---- the API ------------------------------------------------------------------------------


def test_gateway_errors_have_the_webex_shape_and_a_tracking_id(template: dict[str, Any]) -> None:
    body = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]
    responses = body["x-amazon-apigateway-gateway-responses"]
    assert {"UNAUTHORIZED", "ACCESS_DENIED", "MISSING_AUTHENTICATION_TOKEN", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(
        responses
    )
    assert responses["UNAUTHORIZED"]["statusCode"] == "401"
    assert responses["ACCESS_DENIED"]["statusCode"] == "403"
    for kind, response in responses.items():
        assert response["responseParameters"] == {
            "gatewayresponse.header.TrackingID": "method.request.header.TrackingID"
        }
        rendered = (
            response["responseTemplates"]["application/json"]
            .replace("$context.error.messageString", json.dumps("Unauthorized"))
            .replace("$context.requestId", "0f0e")
        )
        error = json.loads(rendered)
        assert set(error) == {"message", "errors", "trackingId"}, kind
        assert error["trackingId"] == "0f0e" and error["errors"][0]["description"]
    assert "jwt_authorizer" in body["securityDefinitions"]


def test_gateway_errors_that_could_quote_the_request_say_the_local_gateways_fixed_text(
    template: dict[str, Any],
) -> None:
    """API Gateway's message for an unknown route quotes the Authorization header (hashed): those
    kinds answer the text the local gateway answers, never `$context.error.messageString`."""
    responses = template["Resources"]["RestAPI"]["Properties"]["DefinitionBody"][
        "x-amazon-apigateway-gateway-responses"
    ]
    assert (
        {
            "MISSING_AUTHENTICATION_TOKEN",
            "UNAUTHORIZED",
            "ACCESS_DENIED",
            "EXPIRED_TOKEN",
            "INVALID_SIGNATURE",
            "RESOURCE_NOT_FOUND",
        }
        <= set(GATEWAY_DESCRIPTIONS)
        <= set(responses)
    )
    for kind, description in GATEWAY_DESCRIPTIONS.items():
        assert "$" not in description and "#" not in description, kind  # VTL would read them
        mapping = responses[kind]["responseTemplates"]["application/json"]
        assert "messageString" not in mapping, kind
        error = json.loads(mapping.replace("$context.requestId", "0f0e"))
        assert error["errors"] == [{"description": description}], kind
    kept = {
        kind
        for kind, response in responses.items()
        if "messageString" in response["responseTemplates"]["application/json"]
    }
    assert kept == {
        "BAD_REQUEST_BODY",
        "BAD_REQUEST_PARAMETERS",
        "REQUEST_TOO_LARGE",
        "UNSUPPORTED_MEDIA_TYPE",
        "THROTTLED",
        "QUOTA_EXCEEDED",
    }, kept


def test_state_machine_may_run_its_distributed_map(template: dict[str, Any]) -> None:
    """The Distributed Map (workflow.py, past 40 shards) reads the shard list Plan writes under
    the parts prefix, and starts, describes and stops its child executions: the role may do
    exactly that, on this bucket's parts and this state machine's executions."""
    machine = template["Resources"]["ReportStateMachine"]["Properties"]
    distributed = machine["Definition"]["States"]["AggregateDistributed"]
    assert distributed["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert distributed["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    statements = {
        statement.get("Sid"): statement for statement in _statements(template["Resources"]["ReportStateMachineRole"])
    }
    assert statements["ReadShardLists"]["Action"] == "s3:GetObject"
    assert statements["ReadShardLists"]["Resource"] == {
        "Fn::Sub": "${ReportsBucket.Arn}/" + report_parts_prefix("*", "", 0).split("/")[0] + "/*"
    }
    name = machine["StateMachineName"]["Fn::Sub"]
    start = statements["StartChildExecutions"]
    assert start["Action"] == "states:StartExecution" and start["Resource"]["Fn::Sub"].endswith(":stateMachine:" + name)
    children = statements["ManageChildExecutions"]
    assert sorted(children["Action"]) == ["states:DescribeExecution", "states:StopExecution"]
    assert children["Resource"]["Fn::Sub"].endswith(":execution:" + name + "/*")


def test_the_steps_that_hold_whole_files_in_tmp_get_the_room(template):
    """A shard fetches its lake slice into /tmp and Assemble encodes the CSV there: 10 GiB each."""
    functions = _functions(template)
    sizes = {
        properties["FunctionName"]["Fn::Sub"].split("-", 1)[1]: properties.get("EphemeralStorage", {}).get("Size")
        for properties in (resource["Properties"] for resource in functions.values())
    }
    assert sizes["aggregate_shard"] == 10240 and sizes["assemble"] == 10240
    assert sizes["api_handler"] is None  # the rest keep Lambda's default


def test_the_code_package_leaves_out_the_cli_and_the_local_stack_which_no_lambda_imports():
    """What Chalice zips of chalicelib/ (`make package`) holds neither wing, and no module it
    does hold imports one (anywhere, a function's own imports too): the Lambdas cannot need them."""
    import ast

    from chalice.deploy.packager import BaseLambdaDeploymentPackager
    from chalice.utils import OSUtils

    packager = _load_packager()

    def zipped() -> dict[str, str]:
        return dict(BaseLambdaDeploymentPackager(OSUtils(), None, None)._iter_app_filenames(str(PROJECT)))

    with packager._wings_left_out():
        shipped = zipped()
    assert {"app.py", "chalicelib/bootstrap.py", "chalicelib/runtime/workflow.py"} <= set(shipped.values())
    assert [path for path in shipped.values() if path.startswith(packager.LEFT_OUT)] == []
    assert any(path.startswith("chalicelib/local/") for path in zipped().values())  # the patch is undone
    wings = [prefix.rstrip("/").replace("/", ".") for prefix in packager.LEFT_OUT]  # chalicelib.cli, …
    reaching = []
    for full_path, path in shipped.items():
        if not path.endswith(".py") or path.startswith("chalice/"):
            continue
        for node in ast.walk(ast.parse(Path(full_path).read_text())):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            reaching += [(path, name) for name in names for wing in wings if name == wing or name.startswith(wing + ".")]
    assert reaching == []
