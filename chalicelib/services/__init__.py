"""Use cases. They receive their ports (see ports.py) at construction and never import boto3."""
