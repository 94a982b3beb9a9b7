#!/usr/bin/env python3
"""Writes the "Joins over federation" section of docs/performance.md from the
JSON of `federated-join` (called by `NEXUS_BENCH_WORKLOAD=federated-join
scripts/bench.sh`).

Usage: bench_join_table.py <performance.md> <federated-join.json> <synapse version> <command>
"""
import datetime, json, sys
sys.path.insert(0, "scripts")
from bench_report import machine, ms, replace_section, wrap

HEADING = "## Joins over federation"
doc, figures, synapse_version, command = sys.argv[1:5]
pairs = json.load(open(figures, encoding="utf-8"))["pairs"]
when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
text = (
    "Issue 27's third target: a user joins a big room another server holds and can read and send "
    "within 2 s. Both servers ask for and answer partial-state joins (`send_join` with `omit_members`, "
    "MSC3706/MSC3902): the joiner places its join with the room's state less its member events, and "
    "fetches the full state in the background. `federated-join` (`complement-tests/src/bin/`) fills the "
    "resident's room with appservice users (no password hashing), then times, from the joiner's "
    "`POST /join`: its answer; then one message sent; then that message read back with `/messages`; "
    "and until `/joined_members` on the joiner lists every member (the full state is in). Every "
    "pairing gets fresh servers, over loopback TLS; release Nexus on RocksDB, Synapse "
    f"{synapse_version} on SQLite, on the same {machine()}. Synapse adds members to its own rooms far "
    "more slowly, so its rooms are smaller (the members column). "
    "A Synapse joiner answers the join and the send at once too, but holds `/messages` until its "
    "state is complete; Nexus reads from the partial state. "
    f"Measured {when} (`{command}`)."
)
out = ["", HEADING, "", wrap(text), "",
       "| resident → joiner | members | join answered | + one send | + read back | every member known |",
       "|---|---:|---:|---:|---:|---:|"]
for p in pairs:
    out.append(
        f"| {p['resident'].capitalize()} → {p['joiner'].capitalize()} | {p['members']:,} | "
        f"{ms(p['join_ms'])} ms | {ms(p['send_ms'])} ms | {ms(p['read_ms'])} ms | "
        f"{ms(p['all_members_ms'])} ms |"
    )
replace_section(doc, HEADING, "\n".join(out) + "\n")
