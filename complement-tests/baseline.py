#!/usr/bin/env python3
"""Conformance results after Complement's catalogue, and the committed baseline.

complement-tests/catalogue.toml lists every Complement test file and the
scenarios of ours that mirror it. This script maps `cargo test` output of the
black-box suite onto that catalogue:

  an entry passes   when every test of every mirror passed;
           fails    when one failed, or a mirror did not run at all
                    (renamed, deleted, or its test binary never ran);
           skips    when it is not mirrored (with the catalogue's reason),
                    or a mirror was ignored.

Usage (paths default to files next to this script):

  baseline.py [LOG ...]              parse cargo test output (files, `-` = stdin;
                                     default stdin) and write results.json
  baseline.py LOG --check            ... then compare with baseline.json: exit 1
                                     and list every difference, new passes
                                     included
  baseline.py LOG --update-baseline  ... then make baseline.json equal to the
                                     results (the deliberate way to move it)
  baseline.py --markdown [--from F]  per-group table for the README, from F
                                     (default baseline.json), or from LOG
  baseline.py --readme README.md ... with --check: the README's table must
                                     match the baseline; with --update-baseline:
                                     rewrite it (between the markers
                                     <!-- conformance:begin --> / <!-- conformance:end -->)
  baseline.py --lint [--complement-dir DIR]
                                     check the catalogue: every mirror names a
                                     real test function in tests/*.rs; with DIR
                                     (a Complement checkout), every Complement
                                     test file has one entry whose `complement`
                                     list matches its top-level Go tests
  baseline.py --complement-json F    summary of a real Complement run
                                     (`go test -json` log, run-complement.sh)
  baseline.py --complement-progress  filter `go test -json` on stdin into
                                     one line per finished top-level test

Exit status: 0 fine, 1 differences (--check) or lint errors, 2 bad input.
Standard library only (Python 3.11+, for tomllib).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tomllib
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_CATALOGUE = HERE / "catalogue.toml"
DEFAULT_RESULTS = HERE / "results.json"
DEFAULT_BASELINE = HERE / "baseline.json"
DEFAULT_TESTS_DIR = HERE / "tests"

GROUP_ORDER = ["csapi", "federation", "msc"]
VARIANTS = ("rocksdb", "postgres")
README_BEGIN = "<!-- conformance:begin -->"
README_END = "<!-- conformance:end -->"

# Published figures for Complement itself (not our mirrors), for context.
REFERENCE_FIGURES = [("Synapse", 93), ("tuwunel", 84)]


class InputError(Exception):
    """Bad input: exit status 2."""


# --------------------------------------------------------------------------
# The catalogue
# --------------------------------------------------------------------------


def load_catalogue(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            catalogue = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise InputError(f"{path}: {e}") from e
    entries = catalogue.get("test")
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: no [[test]] entries")
    return catalogue


def group_order(catalogue: dict) -> list[str]:
    groups = list(catalogue.get("groups", {}))
    return [g for g in GROUP_ORDER if g in groups] + sorted(g for g in groups if g not in GROUP_ORDER)


def split_mirror(mirror: str) -> tuple[str, str, str | None]:
    """`file::function[::variant]` -> (file, function, variant)."""
    parts = mirror.split("::")
    if len(parts) == 2:
        return parts[0], parts[1], None
    if len(parts) == 3 and parts[2] in VARIANTS:
        return parts[0], parts[1], parts[2]
    raise InputError(f"mirror {mirror!r} is not <test file>::<function>[::rocksdb|::postgres]")


# --------------------------------------------------------------------------
# cargo test output
# --------------------------------------------------------------------------

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
RUNNING = re.compile(r"^\s*Running\s+(?:unittests\s+)?(\S+)(?:\s+\((.+)\))?\s*$")
DOCTESTS = re.compile(r"^\s*Doc-tests\s+(\S+)\s*$")
TEST_LINE = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)\b")
TEST_START = re.compile(r"^test (\S+) \.\.\. ?(.*)$")
LATE_RESULT = re.compile(r"^(ok|FAILED|ignored)\b")
SEVERITY = {"ok": 0, "ignored": 1, "FAILED": 2}


def binary_name(source: str, executable: str | None) -> str:
    """`tests/csapi_account.rs` -> `csapi_account`; unit tests get a prefix."""
    source = source.replace("\\", "/")
    if source.startswith("tests/") and source.endswith(".rs"):
        return source[len("tests/") : -len(".rs")]
    # Old cargo prints only the executable: target/debug/deps/<name>-<hash>.
    exe = (executable or source).replace("\\", "/").rsplit("/", 1)[-1]
    stem = re.sub(r"-[0-9a-f]{8,}(\.exe)?$", "", exe)
    if executable is None and source == exe:
        return stem
    return f"unittests:{stem}"


def parse_cargo_output(lines) -> dict[tuple[str, str], str]:
    """{(test binary, test name): "ok" | "FAILED" | "ignored"}; worst wins."""
    results: dict[tuple[str, str], str] = {}
    binary = None
    pending = None  # a `test x ... ` whose result came on a later line

    def record(name: str, outcome: str) -> None:
        key = (binary or "?", name)
        if key not in results or SEVERITY[outcome] > SEVERITY[results[key]]:
            results[key] = outcome

    for raw in lines:
        line = ANSI.sub("", raw.rstrip("\r\n"))
        m = RUNNING.match(line)
        if m:
            binary, pending = binary_name(m.group(1), m.group(2)), None
            continue
        m = DOCTESTS.match(line)
        if m:
            binary, pending = f"doctests:{m.group(1)}", None
            continue
        m = TEST_LINE.match(line)
        if m:
            record(m.group(1), m.group(2))
            pending = None
            continue
        m = TEST_START.match(line)
        if m and not m.group(2).strip():
            pending = m.group(1)
            continue
        if pending:
            m = LATE_RESULT.match(line.strip())
            if m:
                record(pending, m.group(1))
                pending = None
    return results


def index_by_binary(results: dict[tuple[str, str], str]) -> dict[str, dict[str, str]]:
    by_binary: dict[str, dict[str, str]] = defaultdict(dict)
    for (binary, name), outcome in results.items():
        by_binary[binary][name] = outcome
    return by_binary


def mirror_outcomes(mirror: str, by_binary: dict[str, dict[str, str]]) -> dict[str, str]:
    """The test results one mirror stands for: `f` matches the test `f`, the
    both_backends! tests `f::rocksdb` / `f::postgres` (and `f_rocksdb` /
    `f_postgres`, should the macro ever name them so)."""
    file, function, variant = split_mirror(mirror)
    tests = by_binary.get(file, {})
    if variant:
        wanted = {f"{function}::{variant}", f"{function}_{variant}"}
        return {f"{file}::{n}": o for n, o in tests.items() if n in wanted}
    found = {}
    for name, outcome in tests.items():
        if name == function or name.startswith(function + "::") or name in (
            f"{function}_{v}" for v in VARIANTS
        ):
            found[f"{file}::{name}"] = outcome
    return found


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


def evaluate(catalogue: dict, by_binary: dict[str, dict[str, str]]) -> dict:
    results: dict[str, dict[str, dict]] = {g: {} for g in group_order(catalogue)}
    used: set[tuple[str, str]] = set()
    for entry in catalogue["test"]:
        group, name = entry["group"], entry["name"]
        mirrors = entry.get("mirrored_by") or []
        if not mirrors:
            results.setdefault(group, {})[name] = {
                "result": "skip",
                "reason": entry.get("reason", "not mirrored"),
            }
            continue
        failed, missing, ignored = [], [], []
        for mirror in mirrors:
            outcomes = mirror_outcomes(mirror, by_binary)
            if not outcomes:
                missing.append(mirror)
            for test, outcome in sorted(outcomes.items()):
                file, rest = test.split("::", 1)
                used.add((file, rest))
                if outcome == "FAILED":
                    failed.append(test)
                elif outcome == "ignored":
                    ignored.append(test)
        coverage = entry.get("coverage", "full")
        if failed or missing:
            reasons = []
            if failed:
                reasons.append("failed: " + ", ".join(failed))
            if missing:
                reasons.append("did not run: " + ", ".join(missing))
            record = {"result": "fail", "coverage": coverage, "reason": "; ".join(reasons)}
        elif ignored:
            record = {"result": "skip", "coverage": coverage, "reason": "ignored: " + ", ".join(ignored)}
        else:
            record = {"result": "pass", "coverage": coverage}
        results.setdefault(group, {})[name] = record
    return {"results": results, "counts": count(results), "_used": used}


def count(results: dict[str, dict[str, dict]]) -> dict[str, dict[str, int]]:
    counts = {}
    total = defaultdict(int)
    for group, entries in results.items():
        c = {"total": 0, "pass": 0, "pass_full": 0, "pass_partial": 0, "fail": 0, "skip": 0}
        for record in entries.values():
            c["total"] += 1
            c[record["result"]] += 1
            if record["result"] == "pass":
                c["pass_" + ("partial" if record.get("coverage") == "partial" else "full")] += 1
        counts[group] = c
        for k, v in c.items():
            total[k] += v
    counts["all"] = dict(total)
    return counts


def results_document(catalogue: dict, evaluated: dict) -> dict:
    return {
        "schema": 1,
        "complement_commit": catalogue.get("complement_commit", ""),
        "counts": evaluated["counts"],
        "results": evaluated["results"],
    }


def dump(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load_json(path: Path) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"{path}: {e}") from e


def differences(baseline: dict, current: dict) -> list[str]:
    """Every entry whose record (result, coverage, reason) differs."""
    out = []
    old, new = baseline.get("results", {}), current.get("results", {})
    for group in sorted(set(old) | set(new)):
        o, n = old.get(group, {}), new.get(group, {})
        for name in sorted(set(o) | set(n)):
            label = f"{group}/{name}"
            if name not in o:
                out.append(f"{label}: new entry, now {describe(n[name])}")
            elif name not in n:
                out.append(f"{label}: entry removed (baseline: {describe(o[name])})")
            elif o[name] != n[name]:
                a, b = o[name], n[name]
                if a.get("result") != b.get("result"):
                    kind = "NEW PASS" if b.get("result") == "pass" else (
                        "REGRESSION" if a.get("result") == "pass" else "changed")
                    out.append(f"{label}: {kind}: baseline {describe(a)} -> now {describe(b)}")
                else:
                    out.append(f"{label}: details changed: baseline {describe(a)} -> now {describe(b)}")
    if baseline.get("complement_commit") != current.get("complement_commit"):
        out.append(
            f"complement_commit: baseline {baseline.get('complement_commit')!r} -> now {current.get('complement_commit')!r}"
        )
    return out


def describe(record: dict) -> str:
    text = record.get("result", "?")
    if record.get("coverage") == "partial":
        text += " (partial)"
    if record.get("reason"):
        text += f" [{record['reason']}]"
    return text


# --------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------


def percent(part: int, whole: int) -> str:
    return f"{round(100 * part / whole)} %" if whole else "–"


def markdown(document: dict, catalogue: dict) -> str:
    groups = catalogue.get("groups", {})
    counts = document["counts"]
    rows = [
        "| Group | Complement package | Test files | Mirrored, passing | of which partial | Failing | Not mirrored | Passing share |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for group in [g for g in group_order(catalogue) if g in counts]:
        c = counts[group]
        package = groups.get(group, {}).get("complement_package", "")
        rows.append(
            f"| {group} | `{package}` | {c['total']} | {c['pass']} | {c['pass_partial']} | {c['fail']} "
            f"| {c['skip']} | {percent(c['pass'], c['total'])} |"
        )
    c = counts["all"]
    rows.append(
        f"| **all** | | **{c['total']}** | **{c['pass']}** | {c['pass_partial']} | {c['fail']} | {c['skip']} "
        f"| **{percent(c['pass'], c['total'])}** |"
    )
    refs = ", ".join(f"{name} ≈{value} %" for name, value in REFERENCE_FIGURES)
    commit = document.get("complement_commit", "")[:8]
    notes = [
        "",
        f"One row per Complement package group, counting Complement's test files (at `{commit}`): "
        "a file counts as passing when every scenario of ours that mirrors it passes; "
        f"{c['pass_full']} of them are mirrored in full, {c['pass_partial']} in part "
        "(`gaps` in `complement-tests/catalogue.toml` says what is missing).",
        "",
        f"For reference, the published figures for Complement itself are {refs} of Complement's test groups. "
        "They are not directly comparable: they come from running Complement's own Go tests against those "
        "servers, while these counts come from our re-expression of Complement's scenarios "
        "(a partial mirror counts as passing, and Complement's tests that need its Go fake federation server "
        "are mostly not mirrored). `complement-tests/run-complement.sh` produces the comparable figure on a "
        "machine with Docker.",
    ]
    return "\n".join(rows + notes) + "\n"


def replace_readme_block(text: str, table: str, path: Path) -> str:
    begin, end = text.find(README_BEGIN), text.find(README_END)
    if begin < 0 or end < begin:
        raise InputError(f"{path}: no {README_BEGIN} ... {README_END} block")
    return text[: begin + len(README_BEGIN)] + "\n" + table + text[end:]


# --------------------------------------------------------------------------
# Lint
# --------------------------------------------------------------------------

BOTH_BACKENDS = re.compile(r"both_backends!\s*\(([^)]*)\)", re.S)
PLAIN_TEST = re.compile(r"#\[(?:tokio::)?test\b[^\]]*\]\s*(?:#\[[^\]]*\]\s*)*(?:pub\s+)?(?:async\s+)?fn\s+(\w+)")
GO_TEST = re.compile(r"^func (Test\w+)\s*\(", re.M)


def scan_rust_tests(tests_dir: Path) -> dict[str, dict[str, str]]:
    """{file stem: {function: "both_backends" | "plain"}}."""
    found: dict[str, dict[str, str]] = {}
    for path in sorted(tests_dir.glob("*.rs")):
        text = path.read_text(encoding="utf-8")
        functions = {}
        for m in PLAIN_TEST.finditer(text):
            functions[m.group(1)] = "plain"
        for m in BOTH_BACKENDS.finditer(text):
            for name in (n.strip() for n in m.group(1).split(",")):
                if name:
                    functions[name] = "both_backends"
        found[path.stem] = functions
    return found


def complement_files(complement_dir: Path) -> dict[tuple[str, str], list[Path]]:
    """{(group, entry name): [Go test files]} of a Complement checkout."""
    tests = complement_dir / "tests"
    if not tests.is_dir():
        raise InputError(f"{complement_dir}: no tests/ directory (not a Complement checkout?)")
    files: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(tests.glob("*_test.go")):
        if path.name != "main_test.go":
            files[("federation", path.name[: -len("_test.go")])] = [path]
    for path in sorted((tests / "csapi").glob("*_test.go")):
        if path.name != "main_test.go":
            files[("csapi", path.name[: -len("_test.go")])] = [path]
    for package in sorted(p for p in tests.glob("msc*") if p.is_dir()):
        go = [p for p in sorted(package.glob("*_test.go")) if p.name != "main_test.go"]
        if go:
            files[("msc", package.name)] = go
    return files


def lint(catalogue: dict, tests_dir: Path, complement_dir: Path | None, verbose: bool) -> list[str]:
    errors = []
    sources = scan_rust_tests(tests_dir)
    groups = set(catalogue.get("groups", {}))
    seen = set()
    referenced = set()
    for i, entry in enumerate(catalogue["test"]):
        label = f"{entry.get('group', '?')}/{entry.get('name', f'#{i}')}"
        for key in ("group", "name"):
            if not isinstance(entry.get(key), str) or not entry[key]:
                errors.append(f"{label}: missing {key}")
        if entry.get("group") not in groups:
            errors.append(f"{label}: group {entry.get('group')!r} is not declared under [groups]")
        key = (entry.get("group"), entry.get("name"))
        if key in seen:
            errors.append(f"{label}: listed twice")
        seen.add(key)
        if not entry.get("complement"):
            errors.append(f"{label}: no `complement` list of Complement's Go tests")
        mirrors = entry.get("mirrored_by")
        status = entry.get("status")
        if mirrors is not None:
            if status not in (None, "mirrored"):
                errors.append(f"{label}: has mirrored_by and status = {status!r}")
            if not mirrors:
                errors.append(f"{label}: empty mirrored_by (use status = \"not_mirrored\")")
            if entry.get("coverage") not in ("full", "partial"):
                errors.append(f"{label}: coverage must be \"full\" or \"partial\"")
            if entry.get("coverage") == "partial" and not entry.get("gaps"):
                errors.append(f"{label}: partial coverage needs `gaps`")
            if len(set(mirrors)) != len(mirrors):
                errors.append(f"{label}: a mirror is listed twice")
            for mirror in mirrors:
                try:
                    file, function, variant = split_mirror(mirror)
                except InputError as e:
                    errors.append(f"{label}: {e}")
                    continue
                kind = sources.get(file, {}).get(function)
                if file not in sources:
                    errors.append(f"{label}: {mirror}: no tests/{file}.rs")
                elif kind is None:
                    errors.append(f"{label}: {mirror}: tests/{file}.rs has no test function {function}")
                elif variant and kind != "both_backends":
                    errors.append(f"{label}: {mirror}: {function} is not a both_backends! scenario")
                referenced.add((file, function))
        elif status == "not_mirrored":
            if not entry.get("reason"):
                errors.append(f"{label}: not_mirrored needs a reason")
            if entry.get("coverage") or entry.get("gaps"):
                errors.append(f"{label}: coverage/gaps only apply to mirrored entries")
        else:
            errors.append(f"{label}: needs mirrored_by = [...] or status = \"not_mirrored\" with a reason")

    if complement_dir is not None:
        files = complement_files(complement_dir)
        for key in sorted(set(files) - seen):
            errors.append(f"{key[0]}/{key[1]}: Complement has {', '.join(str(p.relative_to(complement_dir)) for p in files[key])} but the catalogue has no entry")
        for key in sorted(k for k in seen - set(files) if k[0] is not None):
            errors.append(f"{key[0]}/{key[1]}: in the catalogue but not in {complement_dir}")
        for entry in catalogue["test"]:
            key = (entry.get("group"), entry.get("name"))
            if key in files:
                go_tests = set()
                for path in files[key]:
                    go_tests |= set(GO_TEST.findall(path.read_text(encoding="utf-8")))
                listed = set(entry.get("complement") or [])
                if go_tests != listed:
                    errors.append(
                        f"{key[0]}/{key[1]}: `complement` differs from the Go file(s): "
                        f"missing {sorted(go_tests - listed)}, not in Complement {sorted(listed - go_tests)}"
                    )
    if verbose:
        unreferenced = sorted(f"{f}::{fn}" for f, fns in sources.items() for fn in fns if (f, fn) not in referenced)
        print(f"lint: {len(unreferenced)} test functions mirror no Complement entry:", file=sys.stderr)
        for name in unreferenced:
            print(f"  {name}", file=sys.stderr)
    return errors


# --------------------------------------------------------------------------
# A real Complement run (go test -json)
# --------------------------------------------------------------------------


def package_tail(package: str) -> str:
    """`github.com/matrix-org/complement/tests/csapi` -> `csapi`; `.../tests` -> ``."""
    tail = package.split("/tests", 1)[1] if "/tests" in package else package
    return tail.strip("/")


def entry_package_tail(entry: dict) -> str:
    return {"csapi": "csapi", "federation": ""}.get(entry["group"], entry["name"])


def complement_group(package: str) -> str:
    tail = package_tail(package)
    if tail == "":
        return "federation"
    if tail == "csapi":
        return "csapi"
    if tail.startswith("msc"):
        return "msc"
    return tail


def read_go_events(lines):
    for raw in lines:
        raw = raw.strip()
        if not raw.startswith("{"):
            continue
        try:
            yield json.loads(raw)
        except json.JSONDecodeError:
            continue


def complement_summary(path: Path, catalogue: dict) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            events = list(read_go_events(f))
    except OSError as e:
        raise InputError(f"{path}: {e}") from e
    outcome: dict[tuple[str, str], str] = {}
    for ev in events:
        test = ev.get("Test")
        if test and "/" not in test and ev.get("Action") in ("pass", "fail", "skip"):
            outcome[(package_tail(ev.get("Package", "")), test)] = ev["Action"]
    if not outcome:
        raise InputError(f"{path}: no top-level test results in this go test -json log")
    tests = defaultdict(lambda: defaultdict(int))
    for (tail, _), action in outcome.items():
        tests[complement_group(tail)][action] += 1
    # Files (catalogue entries): passing when all their top-level tests that ran passed.
    files = defaultdict(lambda: defaultdict(int))
    for entry in catalogue["test"]:
        ran = [outcome.get((entry_package_tail(entry), t)) for t in entry.get("complement", [])]
        ran = [r for r in ran if r]
        if not ran:
            continue
        verdict = "fail" if "fail" in ran else ("pass" if "pass" in ran else "skip")
        files[entry["group"]][verdict] += 1
    rows = [
        "| Group | Top-level tests run | passed | failed | skipped | Pass rate | Test files passing |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    order = [g for g in group_order(catalogue) if g in tests] + sorted(g for g in tests if g not in GROUP_ORDER)
    for group in order:
        t = tests[group]
        run = t["pass"] + t["fail"] + t["skip"]
        f = files[group]
        nf = f["pass"] + f["fail"] + f["skip"]
        rows.append(
            f"| {group} | {run} | {t['pass']} | {t['fail']} | {t['skip']} | {percent(t['pass'], t['pass'] + t['fail'])} "
            f"| {f['pass']} / {nf} |"
        )
    refs = ", ".join(f"{name} ≈{value} %" for name, value in REFERENCE_FIGURES)
    return "\n".join(rows) + f"\n\nPublished figures for Complement itself: {refs} of Complement's test groups.\n"


def complement_progress(stream) -> None:
    for raw in stream:
        line = raw.rstrip("\n")
        if not line.lstrip().startswith("{"):
            print(line, flush=True)  # build errors and the like
            continue
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            print(line, flush=True)
            continue
        action, test = ev.get("Action"), ev.get("Test")
        if action in ("pass", "fail", "skip"):
            group = complement_group(ev.get("Package", ""))
            if test and "/" not in test:
                print(f"{action.upper():4}  {group:10} {test} ({ev.get('Elapsed', 0)}s)", flush=True)
            elif not test:
                print(f"== package {ev.get('Package')}: {action}", flush=True)


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def read_logs(paths: list[str]):
    for p in paths or ["-"]:
        if p == "-":
            yield from sys.stdin
        else:
            try:
                with open(p, encoding="utf-8", errors="replace") as f:
                    yield from f
            except OSError as e:
                raise InputError(f"{p}: {e}") from e


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__
    )
    ap.add_argument("logs", nargs="*", help="cargo test output (files; `-` = stdin; default stdin)")
    ap.add_argument("--catalogue", type=Path, default=DEFAULT_CATALOGUE)
    ap.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="where to write the results")
    ap.add_argument("--baseline", type=Path, default=DEFAULT_BASELINE)
    ap.add_argument("--tests-dir", type=Path, default=DEFAULT_TESTS_DIR, help="our test sources (for --lint)")
    ap.add_argument("--check", action="store_true", help="compare the results with the baseline")
    ap.add_argument("--update-baseline", action="store_true", help="write the results to the baseline")
    ap.add_argument("--markdown", action="store_true", help="print the per-group table")
    ap.add_argument("--from", dest="from_file", type=Path, help="--markdown from this results/baseline file")
    ap.add_argument("--readme", type=Path, help="README holding the table between the conformance markers")
    ap.add_argument("--lint", action="store_true", help="check the catalogue against the sources")
    ap.add_argument("--complement-dir", type=Path, help="a Complement checkout, for --lint")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--complement-json", type=Path, help="summarise a `go test -json` log of Complement")
    ap.add_argument("--complement-progress", action="store_true", help="filter `go test -json` on stdin")
    args = ap.parse_args(argv)

    try:
        if args.complement_progress:
            complement_progress(sys.stdin)
            return 0
        catalogue = load_catalogue(args.catalogue)
        if args.complement_json:
            print(complement_summary(args.complement_json, catalogue), end="")
            return 0
        if args.lint:
            errors = lint(catalogue, args.tests_dir, args.complement_dir, args.verbose)
            for e in errors:
                print(f"lint: {e}", file=sys.stderr)
            n = len(catalogue["test"])
            print(f"lint: {n} entries, {len(errors)} problem(s)", file=sys.stderr)
            return 1 if errors else 0

        if args.markdown and not args.logs and not (args.check or args.update_baseline):
            document = load_json(args.from_file or args.baseline)
            print(markdown(document, catalogue), end="")
            return 0

        parsed = parse_cargo_output(read_logs(args.logs))
        if not parsed:
            raise InputError("no `test <name> ... ok|FAILED|ignored` lines in the cargo test output")
        by_binary = index_by_binary(parsed)
        evaluated = evaluate(catalogue, by_binary)
        document = results_document(catalogue, evaluated)
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(dump(document), encoding="utf-8")
        c = document["counts"]["all"]
        unmapped = sum(1 for key in parsed if ":" not in key[0] and key not in evaluated["_used"])
        print(
            f"conformance: {len(parsed)} test results read; {c['total']} Complement test files: "
            f"{c['pass']} pass ({c['pass_partial']} partially mirrored), {c['fail']} fail, {c['skip']} skip; "
            f"{unmapped} of our tests mirror no Complement file; wrote {args.results}",
            file=sys.stderr,
        )
        if args.markdown:
            print(markdown(document, catalogue), end="")

        status = 0
        if args.update_baseline:
            args.baseline.write_text(dump(document), encoding="utf-8")
            print(f"conformance: baseline updated: {args.baseline}", file=sys.stderr)
            if args.readme:
                text = args.readme.read_text(encoding="utf-8")
                args.readme.write_text(replace_readme_block(text, markdown(document, catalogue), args.readme),
                                       encoding="utf-8")
                print(f"conformance: table updated in {args.readme}", file=sys.stderr)
        elif args.check:
            if not args.baseline.exists():
                raise InputError(f"{args.baseline} does not exist: create it with --update-baseline")
            baseline = load_json(args.baseline)
            diffs = differences(baseline, document)
            if diffs:
                print(f"conformance: {len(diffs)} difference(s) from {args.baseline}:", file=sys.stderr)
                for d in diffs:
                    print(f"  {d}", file=sys.stderr)
                print(
                    "conformance: if this is intended (a new mirror passes, an entry was added), update the "
                    "baseline deliberately: complement-tests/baseline.py <cargo test log> --update-baseline "
                    "--readme README.md, and commit baseline.json with the change.",
                    file=sys.stderr,
                )
                status = 1
            else:
                print(f"conformance: results match {args.baseline}", file=sys.stderr)
            if args.readme:
                text = args.readme.read_text(encoding="utf-8")
                if replace_readme_block(text, markdown(baseline, catalogue), args.readme) != text:
                    print(f"conformance: the table in {args.readme} does not match {args.baseline}; regenerate "
                          f"it with --update-baseline --readme {args.readme}", file=sys.stderr)
                    status = 1
        return status
    except InputError as e:
        print(f"baseline.py: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
