#!/usr/bin/env python3
"""Writes the spec's client-server OpenAPI with this run's real identifiers
in place of path parameters, for schemathesis: generated room ids, event
ids and user ids would only ever be "not found", and exercise nothing.

    prepare_spec.py OUT BASE_URL --set NAME=VALUE ...

Operations that would end the fixture session (logout, password change,
deactivation, device deletion) are removed: the fuzzer must keep its
access token for the whole run.
"""

import argparse
import gzip
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "..", "openapi", "client-server.json.gz")

SESSION_ENDERS = {
    ("post", "/_matrix/client/v3/logout"),
    ("post", "/_matrix/client/v3/logout/all"),
    ("post", "/_matrix/client/v3/account/password"),
    ("post", "/_matrix/client/v3/account/deactivate"),
    ("post", "/_matrix/client/v3/delete_devices"),
    ("delete", "/_matrix/client/v3/devices/{deviceId}"),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("base_url")
    parser.add_argument("--set", action="append", default=[], help="path parameter NAME=VALUE")
    args = parser.parse_args()
    values = dict(item.split("=", 1) for item in args.set)

    with gzip.open(SPEC, "rt", encoding="utf-8") as f:
        spec = json.load(f)
    spec["servers"] = [{"url": args.base_url}]
    for template, item in list(spec["paths"].items()):
        for method in list(item):
            if (method, template) in SESSION_ENDERS:
                del item[method]
                continue
            op = item[method]
            if not isinstance(op, dict):
                continue
            for param in op.get("parameters", []) + item.get("parameters", []):
                if param.get("in") == "path" and param.get("name") in values:
                    param["schema"] = {"type": "string", "enum": [values[param["name"]]]}
        if not any(m in item for m in ("get", "put", "post", "delete", "patch")):
            del spec["paths"][template]
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(spec, f)


if __name__ == "__main__":
    main()
