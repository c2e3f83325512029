"""DynamoDB's answers to a conditional write: the condition held, or it did not.

A conditional single-item write that finds its condition false raises
`ConditionalCheckFailedException`; a transaction with any action refused raises
`TransactionCanceledException` with one reason code per action.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

CONDITION_FAILED = "ConditionalCheckFailedException"
CANCELLED = "TransactionCanceledException"
ACTION_CONDITION_FAILED = "ConditionalCheckFailed"  # a cancelled transaction's reason code


def is_condition_failure(error: ClientError) -> bool:
    """Did a single-item write fail because its condition was false?"""
    return error.response["Error"]["Code"] == CONDITION_FAILED


def conditionally(write: Callable[..., Any], **arguments: Any) -> bool:
    """Make the conditional write `write(**arguments)`: True if it was made, False if its
    condition was false; any other error is raised."""
    try:
        write(**arguments)
        return True
    except ClientError as error:
        if is_condition_failure(error):
            return False
        raise


def cancellation_codes(error: ClientError) -> list[str]:
    """The reason code of each action of a cancelled transaction (`"None"`: that action was not
    refused); [] if the error is not a cancelled transaction."""
    if error.response["Error"]["Code"] != CANCELLED:
        return []
    reasons = error.response.get("CancellationReasons") or []
    codes = [reason.get("Code", "None") for reason in reasons]
    if not codes:  # some endpoints only put the reasons in the message
        message = error.response["Error"].get("Message", "")
        inside = message[message.find("[") + 1 : message.rfind("]")]
        codes = [part.strip() for part in inside.split(",")] if inside else ["Unknown"]
    return codes


def transacted(write: Callable[..., Any], **arguments: Any) -> bool:
    """Make the transaction `write(**arguments)`: True if it was made, False if it was cancelled
    (some condition was false, or it conflicted with another transaction); other errors are raised."""
    try:
        write(**arguments)
        return True
    except ClientError as error:
        if cancellation_codes(error):
            return False
        raise
