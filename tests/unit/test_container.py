"""The composition root's overrides: given parts (instances or factories) are what every service
is built over, and an override that would come too late is refused."""

from __future__ import annotations

import pytest

from chalicelib.bootstrap import Container, OverrideTooLate
from chalicelib.config import Settings
from chalicelib.domain.report_ids import new_report_id


class RecordingClient:
    """An AWS client that answers every call with {} and records it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []

    def __getattr__(self, operation: str):
        def call(**params):
            self.calls.append((operation, params))
            return {}

        return call


class NoWorkflow:
    def __init__(self, container: Container | None = None) -> None:
        self.container = container


SETTINGS = Settings(stage="local")


def test_services_are_built_over_the_given_clients():
    dynamodb, s3 = RecordingClient(), RecordingClient()
    container = Container(SETTINGS, dynamodb=dynamodb, s3=s3)
    assert container.dynamodb is dynamodb and container.s3 is s3
    assert container.report_store.get("partner", new_report_id()) is None
    assert [operation for operation, _ in dynamodb.calls] == ["get_item"]
    container.blobs.put_text("reports/x.csv", "text")
    assert [(operation, params["Key"]) for operation, params in s3.calls] == [("put_object", "reports/x.csv")]


def test_a_factory_is_called_once_with_the_container():
    made = []

    def factory(given: Container) -> NoWorkflow:
        made.append(NoWorkflow(given))
        return made[-1]

    container = Container(SETTINGS, workflow=factory)
    assert made == []  # nothing is built before it is used
    assert container.workflow is container.workflow is made[0] and made[0].container is container
    assert len(made) == 1


def test_an_override_before_the_first_use_is_taken_by_every_service():
    container = Container(SETTINGS, dynamodb=RecordingClient(), s3=RecordingClient())
    workflow = NoWorkflow()
    container.override(workflow=workflow)
    assert container.workflow is workflow
    assert container.built("workflow") and not container.built("reports")


def test_an_override_of_a_part_already_used_is_refused_and_changes_nothing():
    dynamodb, s3 = RecordingClient(), RecordingClient()
    container = Container(SETTINGS, dynamodb=dynamodb, s3=s3, workflow=NoWorkflow())
    store = container.report_store  # takes the DynamoDB client
    workflow = container.workflow
    with pytest.raises(OverrideTooLate, match="dynamodb"):
        container.override(dynamodb=RecordingClient())
    with pytest.raises(OverrideTooLate, match="workflow"):
        container.override(s3=RecordingClient(), workflow=NoWorkflow())  # all or nothing
    assert container.dynamodb is dynamodb and container.report_store is store and container.workflow is workflow
    assert container.s3 is s3
    container.override()  # nothing given: nothing to refuse


def test_none_leaves_the_part_to_the_settings():
    container = Container(SETTINGS, dynamodb=None)
    assert not container.built("dynamodb")
    container.override(dynamodb=RecordingClient(), s3=None)
    assert isinstance(container.dynamodb, RecordingClient)


@pytest.mark.parametrize("part", ["workflow", "usage_days_stream", "reports_stream"])
def test_a_local_container_builds_no_local_part_it_is_given_one(part):
    """The in-process state machine and the local event sources live outside the Lambda code
    path: a local-mode container given none refuses to build one, and uses the one given."""
    with pytest.raises(RuntimeError, match=part):
        getattr(Container(SETTINGS), part)
    given = NoWorkflow()
    assert getattr(Container(SETTINGS, **{part: given}), part) is given


def test_the_local_parts_build_the_in_process_state_machine():
    from chalicelib.local.parts import local_parts
    from chalicelib.local.step_functions import LocalWorkflow

    container = Container(SETTINGS, dynamodb=RecordingClient(), s3=RecordingClient(), **local_parts())
    assert isinstance(container.workflow, LocalWorkflow)
    with pytest.raises(TypeError, match="dynamodb"):
        local_parts(dynamodb=RecordingClient())


def test_a_wired_part_is_built_once_over_the_named_parts_and_settings():
    dynamodb, s3 = RecordingClient(), RecordingClient()
    container = Container(SETTINGS, dynamodb=dynamodb, s3=s3)
    assert not container.built("report_store")
    store = container.report_store
    assert container.built("report_store") and container.report_store is store
    store.get("partner", new_report_id())
    container.blobs.put_text("reports/x.csv", "text")
    assert dynamodb.calls[0][1]["TableName"] == SETTINGS.reports_table
    assert s3.calls[0][1]["Bucket"] == SETTINGS.reports_bucket
    assert container.sub_partners is container.sub_partners


def test_a_part_that_cannot_be_given_is_refused_by_name_and_nothing_is_overridden():
    with pytest.raises(TypeError, match="dynamo_db"):
        Container(SETTINGS, dynamo_db=RecordingClient())
    container = Container(SETTINGS)
    with pytest.raises(TypeError, match="lake"):
        container.override(dynamodb=RecordingClient(), lake=RecordingClient())
    assert not isinstance(container.dynamodb, RecordingClient)  # built from the settings
    with pytest.raises(RuntimeError, match="workflow"):
        container.workflow  # noqa: B018 - nothing was given: the local part is refused
