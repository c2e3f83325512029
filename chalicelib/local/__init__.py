"""The local stack (`wbr dev` and the tests): local AWS, event sources, the Step Functions interpreter, demo data.

Never imported by the deployed code path: the container is given these parts (`local.parts`).
"""
