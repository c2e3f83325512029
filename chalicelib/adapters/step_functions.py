"""The `Workflow` port on AWS: one Step Functions execution per report revision and trigger."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.commands import GenerationJob
from chalicelib.domain.regeneration import run_prefix
from chalicelib.domain.workflow_messages import PlanInput

# Step Functions execution names: at most 80 characters of [A-Za-z0-9-_].
EXECUTION_NAME_LIMIT = 80


def execution_name(run: str) -> str:
    """The name of the execution that carries the run named `run` (domain/regeneration.run_name):
    a character Step Functions refuses becomes `-`, and the name is cut at its limit."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in run)
    return safe[:EXECUTION_NAME_LIMIT]


class StepFunctionsWorkflow:
    def __init__(self, stepfunctions: Any, state_machine_arn: str) -> None:
        self._sfn = stepfunctions
        self._arn = state_machine_arn

    def start(self, job: GenerationJob, name: str) -> None:
        # Names are unique per revision and trigger: a re-delivered trigger cannot run twice.
        try:
            self._sfn.start_execution(
                stateMachineArn=self._arn, name=execution_name(name), input=json.dumps(PlanInput(job).to_json())
            )
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise

    def is_running(self, name: str) -> bool:
        """An execution that ended (succeeded, failed, timed out, aborted) or never started is
        not running; MarkFailed did not necessarily run for it."""
        arn = self._arn.replace(":stateMachine:", ":execution:", 1) + f":{execution_name(name)}"
        try:
            return self._sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        except ClientError as error:
            if error.response["Error"]["Code"] == "ExecutionDoesNotExist":
                return False
            raise

    def stop(self, report_id: str) -> None:
        """Stop the report's running executions (found by their name prefix)."""
        prefix = execution_name(run_prefix(report_id))
        for page in self._sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self._arn, statusFilter="RUNNING"
        ):
            for execution in page.get("executions", []):
                if execution["name"].startswith(prefix):
                    try:
                        self._sfn.stop_execution(
                            executionArn=execution["executionArn"], error="ReportDeleted", cause="report deleted"
                        )
                    except ClientError as error:
                        if error.response["Error"]["Code"] != "ExecutionDoesNotExist":
                            raise
