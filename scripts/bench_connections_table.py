#!/usr/bin/env python3
"""Writes the "Idle connections" section of docs/performance.md from the JSON
figures of `NEXUS_BENCH_WORKLOAD=idle-connections scripts/bench.sh` (called
by it).

Usage: bench_connections_table.py <performance.md> <work dir> <synapse version> <command> <mode>
"""
import datetime, json, os, sys
sys.path.insert(0, "scripts")
from bench_report import machine, ms, replace_section, wrap

HEADING = "## Idle connections"
doc, work, synapse_version, command, mode = sys.argv[1:6]


def load(server):
    path = os.path.join(work, f"{server}-{mode}.json")
    return json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}


nexus, synapse = load("nexus"), load("synapse")
shape = (nexus or synapse)["idle_connections"]
when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
text = (
    f"Issue 27's first target, as far as this machine allows: {shape['connections']:,.0f} `/sync` long-polls "
    "held open at once, each on a socket of its own (plain HTTP/1.1 from `nexus-bench --workload "
    "idle-connections`, `complement-tests/src/bench/connections.rs`, spread over four loopback source "
    f"addresses), {shape['members']:,.0f} of them by the members of one room (one each), the rest by users "
    "outside it (100 each), never woken. **Memory per connection**: the server's resident memory after "
    "every poll is parked, less before, over the connections. **Wake**: 20 rounds of one message into "
    "the room; the time from the send's start to each member's poll answering with it. The target is "
    "100,000 connections at ≤ 10 KiB each and a wake p99 ≤ 50 ms: this machine's processes may hold "
    "20,000 open files (a hard limit; raising it needs a privilege the sandbox does not give), so "
    "server and driver stop at 18,000. "
    f"Release build, default durability, both servers and the driver on the same {machine()}; Synapse "
    f"{synapse_version} on PostgreSQL. Measured {when} (`{command}`)."
)
out = ["", HEADING, "", wrap(text), "",
       "| | Nexus | Synapse |", "|---|---:|---:|"]


def cell(figures, name, render):
    fig = figures.get(name)
    return render(fig) if fig else "—"


rows = [
    ("connections held (failed; reopened after a reset)", "idle_connections",
     lambda f: f"{f['connections']:,.0f} ({f['errors']:.0f}; {f.get('reconnects', 0):,.0f})"),
    ("time to open them all", "idle_connections", lambda f: f"{f['open_ms'] / 1000:,.1f} s"),
    ("resident memory before → after", "idle_connections",
     lambda f: f"{f['rss_before_kib'] / 1024:,.0f} → {f['rss_after_kib'] / 1024:,.0f} MiB" if "rss_after_kib" in f else "—"),
    ("**memory per idle connection**", "idle_connections",
     lambda f: f"**{f['kib_per_connection']:,.1f} KiB**" if "kib_per_connection" in f else "—"),
    ("**wake p50 / p99** (ms)", "idle_connections_wake", lambda f: f"**{ms(f['p50_ms'])} / {ms(f['p99_ms'])}**"),
    ("wakes measured (missed)", "idle_connections_wake", lambda f: f"{f['count']:,.0f} ({f['errors']:.0f})"),
]
for label, name, render in rows:
    out.append(f"| {label} | {cell(nexus, name, render)} | {cell(synapse, name, render)} |")
replace_section(doc, HEADING, "\n".join(out) + "\n")
