#!/usr/bin/env python3
"""Renders docs/performance.md from the load driver's JSON figures.

usage: bench_report.py WORKDIR SYNAPSE_VERSION SCALE FSYNC_MS COMMAND
WORKDIR holds {nexus,synapse}-{no-flush,flush}.json written by nexus-bench.
"""
import datetime
import json
import os
import platform
import re
import sys
import textwrap

SHOWN = ["throughput_per_s", "p50_ms", "p90_ms", "p99_ms", "rss_mib", "idle_rss_mib", "loaded_rss_mib"]
HIGHER_IS_BETTER = {"throughput_per_s"}


def flatten(prefix, value, out):
    if isinstance(value, dict):
        for key, inner in value.items():
            flatten(f"{prefix}.{key}" if prefix else key, inner, out)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out[prefix] = float(value)


def load(workdir, name):
    path = os.path.join(workdir, f"{name}.json")
    if not os.path.exists(path):
        return {}
    figures = {}
    flatten("", json.load(open(path)), figures)
    return {k: v for k, v in figures.items() if k.rsplit(".", 1)[-1] in SHOWN}


def machine():
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024 // 1024} GiB"
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({model}), {mem} RAM, {platform.system()} {platform.release()}"


def ms(v):
    return f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def wrap(text):  # 78 columns, never inside a `code span`
    kept = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\0"), text)
    return textwrap.fill(kept, width=78, break_on_hyphens=False, break_long_words=False).replace("\0", " ")


def replace_section(doc, heading, section):
    """Puts `section` in place of the one under `heading` (or at the end)."""
    text = open(doc, encoding="utf-8").read()
    start = text.find("\n" + heading + "\n")
    if start < 0:
        text = text.rstrip("\n") + "\n" + section
    else:
        after = text.find("\n## ", start + len(heading) + 2)
        text = text[:start].rstrip("\n") + "\n" + section + (text[after:] if after >= 0 else "")
    open(doc, "w", encoding="utf-8").write(text)


def table(nexus, synapse):
    rows = ["| figure | Nexus | Synapse | Nexus / Synapse |", "|---|---:|---:|---:|"]
    for key in sorted(set(nexus) | set(synapse)):
        n, s = nexus.get(key), synapse.get(key)
        ratio = f"{n / s:.2f}×" if n is not None and s else "—"
        better = "higher is better" if key.rsplit(".", 1)[-1] in HIGHER_IS_BETTER else "lower is better"
        fmt = lambda v: "—" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:.2f}")
        rows.append(f"| {key} ({better}) | {fmt(n)} | {fmt(s)} | {ratio} |")
    return "\n".join(rows)


def main():
    workdir, synapse_version, scale, fsync_ms, command = sys.argv[1:6]
    out = [
        "# Performance: Nexus and Synapse, same machine, same run",
        "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- Machine: {machine()}; one fsync on this disk: {fsync_ms} ms (median of 50)",
        f"- Synapse {synapse_version} from PyPI, on PostgreSQL (as deployed in production); Nexus on its default embedded RocksDB",
        f"- Scale: {scale} of the SBRC 2026 profile (200 users × 300 rooms × 300 members)",
        f"- Command: `{command}`",
        "",
        "Every workload runs against both servers with the same driver (`complement-tests/src/bin/nexus-bench.rs`),",
        "on loopback, bounded in time and count. Setup traffic is not measured.",
        "",
    ]
    for mode, title in [
        ("no-flush", "Neither flushes each commit (Nexus default: survives kill -9; Synapse: synchronous_commit = off)"),
        ("flush", "Both flush every commit to disk (Nexus: storage.sync_writes = true; Synapse: synchronous_commit = on)"),
    ]:
        out += [f"## {title}", "", table(load(workdir, f"nexus-{mode}"), load(workdir, f"synapse-{mode}")), ""]
    print("\n".join(out))


if __name__ == "__main__":
    main()
