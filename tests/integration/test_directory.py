"""The directory's partner cache (adapters/dynamo_directory.py), against moto."""

from __future__ import annotations

from chalicelib.adapters.dynamo_directory import DynamoDirectory
from chalicelib.domain.directory import Partner


def test_partners_are_cached_but_an_empty_directory_never_is(container):
    now = [0.0]
    directory = DynamoDirectory(
        container.dynamodb, container.settings.directory_table, cache_seconds=30, clock=lambda: now[0]
    )
    writer = DynamoDirectory(container.dynamodb, container.settings.directory_table)  # another process
    assert directory.partners() == []  # a stack that starts empty asks at start (its banner)
    writer.upsert_partner(Partner("p-1", "First Telecom"), as_of=1)
    assert [partner.org_id for partner in directory.partners()] == ["p-1"]  # seen at once
    writer.upsert_partner(Partner("p-2", "Second Telecom"), as_of=1)
    assert [partner.org_id for partner in directory.partners()] == ["p-1"]  # cached
    now[0] = 31.0
    assert sorted(partner.org_id for partner in directory.partners()) == ["p-1", "p-2"]
