"""The runtime edges of the deployed service: the report state machine (workflow.py), where its
JSON state meets the typed steps (workflow_edge.py), and logs, metrics and traces (observability.py)."""
