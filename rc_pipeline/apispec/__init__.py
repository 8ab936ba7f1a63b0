"""Facts about the RingCentral operations rc-pipeline uses, generated from the official OpenAPI spec.

`operations.json` is written by `scripts/generate_api_facts.py` (never by hand) and checked against
the spec by the tests. Both the client and the simulator read it, so a request's throttling group and
required app permission come from one source: the spec's `x-throttling-group` / `x-app-permission`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

__all__ = ["OPERATIONS", "Operation", "match_operation", "operation"]


@dataclass(frozen=True)
class Operation:
    operation_id: str
    method: str
    path_template: str
    throttling_group: str
    app_permission: str | None
    media: bool

    @property
    def pattern(self) -> re.Pattern[str]:
        return _compile(self.path_template)


@cache
def _compile(template: str) -> re.Pattern[str]:
    # A path parameter is one segment; bulk ids ("1,2,3") and "~" stay inside a segment.
    regex = re.sub(r"\\\{[^/]+?\\\}", r"[^/]+", re.escape(template))
    return re.compile(f"^{regex}/?$")


def _load() -> tuple[Operation, ...]:
    rows = json.loads(resources.files(__package__).joinpath("operations.json").read_text())
    ops = [
        Operation(
            operation_id=r["operation_id"],
            method=r["method"].upper(),
            path_template=r["path"],
            throttling_group=r["throttling_group"],
            app_permission=r["app_permission"],
            media=r["media"],
        )
        for r in rows
    ]
    # Literal segments beat parameters: "/message-store-report/{taskId}" must not swallow ".../archive".
    ops.sort(key=lambda o: (-o.path_template.count("/"), o.path_template.count("{")))
    return tuple(ops)


OPERATIONS: tuple[Operation, ...] = _load()


def match_operation(method: str, path: str) -> Operation | None:
    """The operation a request (method + URL path, no query) addresses, or None if we do not use it."""
    method = method.upper()
    for op in OPERATIONS:
        if op.method == method and op.pattern.match(path):
            return op
    return None


def operation(operation_id: str) -> Operation:
    """Look an operation up by its spec operationId (KeyError names it when absent)."""
    for op in OPERATIONS:
        if op.operation_id == operation_id:
            return op
    raise KeyError(f"operation {operation_id!r} is not in rc_pipeline/apispec/operations.json")
