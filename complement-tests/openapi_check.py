#!/usr/bin/env python3
"""Validates every JSON answer the black-box scenarios received from Nexus
against the response schema the Matrix spec's OpenAPI gives for that
endpoint and status.

The scenarios append their answers to a JSON-lines log (see
src/openapi_log.rs); this script matches each to an operation of
openapi/client-server.json.gz (the spec's bundled client-server OpenAPI,
Apache-2.0, see openapi/README.md), validates the body with jsonschema,
and fails on any violation that is not on the allow-list below.

    openapi_check.py LOG [--report FILE]
"""

import argparse
import collections
import gzip
import json
import os
import re
import sys

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "openapi", "client-server.json.gz")

# Violations the spec itself makes unavoidable. Each entry: (method, path
# template, status, a substring of the violation's message), with why.
ALLOWED = [
    # `GET /rooms/{roomId}/state/{eventType}/{stateKey}` answers either the
    # content or, with `?format=event`, the whole event; the schema's
    # `oneOf` of the two objects overlaps (an event is also an object), so a
    # valid answer matches both and `oneOf` fails.
    ("get", "/_matrix/client/v3/rooms/{roomId}/state/{eventType}/{stateKey}", 200, "is valid under each of"),
    # `POST /register` with `m.login.application_service` and a missing or
    # unknown `as_token`: the application service API requires 401
    # `M_MISSING_TOKEN` / `M_UNKNOWN_TOKEN` ("Authorization"), while the
    # register schema describes every 401 as a user-interactive auth
    # challenge.
    ("post", "/_matrix/client/v3/register", 401, "'flows' is a required property"),
]


# Query parameters that turn a stable endpoint into an extension's, whose
# answer the stable schema does not describe: MSC4140's delayed send and
# state answer `{delay_id}`, not `{event_id}`.
EXTENSION_QUERIES = ["org.matrix.msc4140.delay="]


def load_spec():
    with gzip.open(SPEC, "rt", encoding="utf-8") as f:
        return json.load(f)


def compile_operations(spec):
    """(method, regex, template) for every operation, literal paths first so
    that `/rooms/{roomId}/state` is not taken for a path parameter."""
    ops = []
    for template, item in spec["paths"].items():
        pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
        params = template.count("{")
        for method, op in item.items():
            if method in ("get", "put", "post", "delete", "patch"):
                ops.append((params, method, re.compile(pattern), template, op))
    ops.sort(key=lambda o: o[0])
    return ops


def find_operation(ops, method, path):
    for _, m, regex, template, op in ops:
        if m == method and regex.match(path):
            return template, op
    return None, None


def response_schema(op, status):
    responses = op.get("responses", {})
    response = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
    if not response:
        return None
    content = response.get("content", {}).get("application/json")
    return content.get("schema") if content else None


def allowed(method, template, status, message):
    return any(
        m == method and t == template and s == status and fragment in message
        for m, t, s, fragment in ALLOWED
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("log")
    parser.add_argument("--report", help="write every violation here")
    args = parser.parse_args()

    spec = load_spec()
    ops = compile_operations(spec)
    validators = {}
    checked = 0
    unmatched = collections.Counter()
    violations = collections.OrderedDict()
    with open(args.log, encoding="utf-8") as log:
        for line in log:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a killed test process
            if entry.get("server", "").lower().startswith("synapse"):
                continue  # the peer Synapse's answers are not ours to judge
            if any(marker in (entry.get("query") or "") for marker in EXTENSION_QUERIES):
                continue  # an extension's answer, not the stable endpoint's
            method, path, status = entry["method"].lower(), entry["path"], entry["status"]
            template, op = find_operation(ops, method, path)
            if op is None:
                unmatched[f"{method.upper()} {path}"] += 1
                continue
            schema = response_schema(op, status)
            if schema is None:
                continue
            key = (method, template, status)
            if key not in validators:
                validators[key] = jsonschema.Draft202012Validator(schema)
            checked += 1
            for error in validators[key].iter_errors(entry["body"]):
                where = "/".join(str(p) for p in error.absolute_path) or "(body)"
                message = f"at {where}: {error.message[:300]}"
                if allowed(method, template, status, message):
                    continue
                violations.setdefault((method.upper(), template, status, where, error.validator), (message, path))

    print(f"openapi_check: {checked} answers validated against the spec's response schemas")
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            for (method, template, status, where, _), (message, path) in violations.items():
                f.write(f"{method} {template} {status} {message} (e.g. {path})\n")
    if violations:
        print(f"openapi_check: {len(violations)} kinds of answers differ from the spec's schemas:")
        for (method, template, status, where, _), (message, path) in violations.items():
            print(f"  {method} {template} -> {status}: {message}\n    e.g. {path}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
