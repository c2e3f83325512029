"""`wbr`, the operator and admin command line (main.py) and its API client (client.py).

Never imported by the deployed code path; not in the Lambda package.
"""
