"""Generate rc_pipeline/apispec/operations.json from RingCentral's official OpenAPI spec.

The table holds facts only (method, path template, throttling group, app permission, media host)
for the operations rc-pipeline calls. The spec itself stays in ../shared and is never copied.

    python scripts/generate_api_facts.py [--spec PATH] [--check]

--check exits 1 when the committed table differs from what the spec says (used by the tests).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPEC = ROOT.parent / "shared" / "ringcentral" / "rc-public-openapi.yml"
TABLE = ROOT / "rc_pipeline" / "apispec" / "operations.json"

ACCOUNT = "/restapi/v1.0/account/{accountId}"
EXTENSION = ACCOUNT + "/extension/{extensionId}"

# The operations rc-pipeline uses. Everything else about them comes from the spec.
USED: list[tuple[str, str]] = [
    ("POST", "/restapi/oauth/token"),
    ("POST", "/restapi/oauth/revoke"),
    ("GET", ACCOUNT + "/service-info"),
    ("GET", ACCOUNT + "/extension"),
    ("GET", ACCOUNT + "/call-log"),
    ("GET", ACCOUNT + "/call-log/{callRecordId}"),
    ("GET", ACCOUNT + "/call-log-sync"),
    ("GET", ACCOUNT + "/call-log-extract-sync"),
    ("GET", ACCOUNT + "/active-calls"),
    ("GET", EXTENSION + "/call-log"),
    ("GET", EXTENSION + "/call-log-sync"),
    ("GET", EXTENSION + "/active-calls"),
    ("GET", ACCOUNT + "/recording/{recordingId}"),
    ("GET", ACCOUNT + "/recording/{recordingId}/content"),
    ("DELETE", ACCOUNT + "/call-recordings"),
    ("GET", EXTENSION + "/message-store"),
    ("GET", EXTENSION + "/message-sync"),
    ("DELETE", EXTENSION + "/message-store"),
    ("GET", EXTENSION + "/message-store/{messageId}"),
    ("PUT", EXTENSION + "/message-store/{messageId}"),
    ("PATCH", EXTENSION + "/message-store/{messageId}"),
    ("DELETE", EXTENSION + "/message-store/{messageId}"),
    ("GET", EXTENSION + "/message-store/{messageId}/content/{attachmentId}"),
    ("GET", ACCOUNT + "/message-store-configuration"),
    ("PUT", ACCOUNT + "/message-store-configuration"),
    ("POST", ACCOUNT + "/message-store-report"),
    ("GET", ACCOUNT + "/message-store-report/{taskId}"),
    ("GET", ACCOUNT + "/message-store-report/{taskId}/archive"),
]

# Operations RingCentral serves but the current spec omits. Each inherits its facts from a documented
# parent operation; the reason is recorded in the table so nobody mistakes it for a spec fact.
INHERITED: list[tuple[str, str, tuple[str, str], str]] = [
    (
        "GET",
        ACCOUNT + "/message-store-report/{taskId}/archive/{archiveId}",
        ("GET", ACCOUNT + "/message-store-report/{taskId}/archive"),
        "absent from the current spec; present in spec v1.0.46 and the developer guide as Heavy/ReadMessages",
    ),
]


def load_spec(path: Path) -> dict:
    with path.open("rb") as fh:
        return yaml.load(fh, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def facts_for(spec: dict, method: str, path: str) -> dict:
    try:
        op = spec["paths"][path][method.lower()]
    except KeyError:
        raise SystemExit(f"operation {method} {path} is not in the spec") from None
    return {
        "operation_id": op["operationId"],
        "method": method,
        "path": path,
        "throttling_group": op["x-throttling-group"],
        "app_permission": op.get("x-app-permission"),
        "media": bool(op.get("x-media-api", False)),
    }


def build_table(spec: dict) -> list[dict]:
    rows = [facts_for(spec, m, p) for m, p in USED]
    for method, path, (pm, pp), why in INHERITED:
        if path in spec["paths"] and method.lower() in spec["paths"][path]:
            rows.append(facts_for(spec, method, path))
            continue
        parent = facts_for(spec, pm, pp)
        rows.append(
            {
                **parent,
                "operation_id": parent["operation_id"] + "Content",
                "method": method,
                "path": path,
                "inherited_from": f"{pm} {pp}",
                "note": why,
            }
        )
    return rows


def render(rows: list[dict]) -> str:
    return json.dumps(rows, indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", type=Path, default=Path(os.environ.get("RC_OPENAPI_SPEC", DEFAULT_SPEC)))
    parser.add_argument("--check", action="store_true", help="compare with the committed table")
    args = parser.parse_args(argv)
    if not args.spec.exists():
        print(f"spec not found at {args.spec} (set RC_OPENAPI_SPEC)", file=sys.stderr)
        return 2
    text = render(build_table(load_spec(args.spec)))
    if args.check:
        if TABLE.read_text() != text:
            print(f"{TABLE} is out of date with {args.spec}: rerun without --check", file=sys.stderr)
            return 1
        return 0
    TABLE.write_text(text)
    print(f"wrote {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
