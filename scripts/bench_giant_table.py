#!/usr/bin/env python3
"""Writes the "Giant rooms" section of docs/performance.md from the JSON of
`giant-room` (called by `NEXUS_BENCH_WORKLOAD=giant-room scripts/bench.sh`).

Usage: bench_giant_table.py <performance.md> <giant-room.json> <command>
"""
import datetime, json, sys
sys.path.insert(0, "scripts")
from bench_report import machine, ms, replace_section, wrap

HEADING = "## Giant rooms"
FIGURES = [
    ("send_ms", "send a message (`PUT /send`)"),
    ("members_ms", "`GET /members`"),
    ("joined_members_ms", "`GET /joined_members`"),
    ("lazy_initial_sync_ms", "initial sync, members lazy-loaded, the room alone"),
    ("incremental_sync_ms", "incremental sync after one message"),
]
doc, figures, command = sys.argv[1:4]
r = json.load(open(figures, encoding="utf-8"))
when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
text = (
    "Issue 27's second target: a room of 100,000 members costs no more than twice a 10-member "
    "room's figures. `giant-room` (`complement-tests/src/bin/`) fills one room with appservice "
    "users (no password hashing; 8 joins at a time), then takes the same figures in it and in a "
    "10-member room on the same server: 200 sends by a member, and 10 of each read by another "
    "member (`/members`, `/joined_members`, an initial sync filtered to the room with lazy-loaded "
    "members, an incremental sync after one new message). Release Nexus on RocksDB, on "
    f"{machine()}. Synapse is not beside it: it could not fill even a 10,000-member room within "
    f"the benchmark's 15-minute bound here. Measured {when} (`{command}`)."
)
small, giant = r["small"], r["giant"]
out = ["", HEADING, "", wrap(text), "",
       f"| figure, ms (p50 / p99) | 10 members | {r['members']:,} members | giant ÷ small (p50) |",
       "|---|---:|---:|---:|"]
for key, label in FIGURES:
    s, g = small[key], giant[key]
    out.append(f"| {label} | {ms(s['p50'])} / {ms(s['p99'])} | {ms(g['p50'])} / {ms(g['p99'])} | "
               f"{g['p50'] / s['p50']:,.1f}× |")
out += ["", wrap(
    f"Filling it took {r['fill_s']:,.0f} s; the store grew by {r['bytes_per_member'] / 1024:,.1f} KiB per "
    "member (RocksDB files before compaction settles: each member's account, join event, state "
    "entries and indexes). Joins as the room grew:"), "",
    "| members | joins / s | join p50 | join p99 |", "|---:|---:|---:|---:|"]
for g in r["growth"]:
    out.append(f"| {g['members']:,} | {g['joins_per_s']:,.0f} | {ms(g['join_ms']['p50'])} ms | {ms(g['join_ms']['p99'])} ms |")
replace_section(doc, HEADING, "\n".join(out) + "\n")
