#!/usr/bin/env python3
"""Writes the "Scale-out" section of docs/performance.md from the JSON
figures of scripts/cluster-bench.sh (called by it).

Usage: bench_cluster_table.py <performance.md> <work dir> <duration s> <senders>
"""
import datetime, json, os, sys
sys.path.insert(0, "scripts")
from bench_report import machine, ms, replace_section, wrap

HEADING = "## Scale-out"
doc, work, duration, senders = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
setups = [
    ("rocksdb", "one process, RocksDB (the default)"),
    ("postgres-1", "1 process, PostgreSQL + Redis"),
    ("postgres-2", "2 processes, PostgreSQL + Redis"),
    ("postgres-3", "3 processes, PostgreSQL + Redis"),
]


def load(setup, what):
    path = os.path.join(work, f"{setup}-{what}.json")
    return json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}


when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
text = (
    "Several `nexus serve` processes on one PostgreSQL and one Redis (docs/scale-out.md) beside the "
    "single binary on RocksDB, driven by `nexus-bench` with `--also-url` naming the other processes. "
    f"**Concurrent sends**: {senders} users in {int(senders) // 4} rooms, each sending one message after "
    "another, sender *i* through process *i* mod *n*, for "
    f"{duration} s or 20,000 sends. **Long-poll wake**: a `/sync` long-poll on the first process, woken by "
    "a send through the last (so from 2 processes on, the wake-up crosses processes: the writer "
    "publishes its stream floor, announces on Redis, the reader re-reads the floor); the time from the "
    "send's answer to the sync's answer. Release builds, default durability (PostgreSQL with "
    "`synchronous_commit = off`), every process, PostgreSQL, Redis and the driver on the same "
    f"{machine()}: with 2 cores, more processes add coordination (the fence statement per write, the "
    "floor task's reads) and contention for the same two cores, not capacity — on this machine the "
    "figures show the cost of scaling out, and the gain needs more machines. What limits even one "
    "PostgreSQL process is Nexus's CPU per send: about forty round trips to PostgreSQL (state and "
    "profile reads, notification and stream rows; writes are one statement per map), each a pair of "
    "socket calls on both sides — a profile of the process under this load is mostly the kernel's TCP "
    "path — where the RocksDB binary reads in-process. "
    f"Measured {when} (`scripts/cluster-bench.sh`)."
)
out = ["", HEADING, "", wrap(text), "",
       "| setup | sends/s | send p50 / p99 ms | errors | wake after send p50 / p99 ms |",
       "|---|---:|---:|---:|---:|"]
for setup, label in setups:
    sends = load(setup, "sends").get("concurrent_sends")
    wake = load(setup, "wake").get("long_poll_wake")
    row = [label]
    row.append(f"{sends['throughput_per_s']:,.0f}" if sends else "—")
    row.append(f"{ms(sends['p50_ms'])} / {ms(sends['p99_ms'])}" if sends else "—")
    row.append(f"{sends['errors']:.0f}" if sends else "—")
    row.append(f"{ms(wake['after_send_p50_ms'])} / {ms(wake['after_send_p99_ms'])}" if wake else "—")
    out.append("| " + " | ".join(row) + " |")
replace_section(doc, HEADING, "\n".join(out) + "\n")
