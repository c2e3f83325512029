"""The `Workflow` port on AWS: one Step Functions execution per report revision."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.domain.reports import Report
from chalicelib.services.generation import job_of


class StepFunctionsWorkflow:
    def __init__(self, stepfunctions: Any, state_machine_arn: str) -> None:
        self._sfn = stepfunctions
        self._arn = state_machine_arn

    def start(self, report: Report) -> None:
        # The execution name is unique per report revision: a retried start cannot run twice.
        name = f"{report.report_id[-36:]}-r{report.revision}"
        try:
            self._sfn.start_execution(stateMachineArn=self._arn, name=name, input=json.dumps({"job": job_of(report)}))
        except ClientError as error:
            if error.response["Error"]["Code"] != "ExecutionAlreadyExists":
                raise
