#!/usr/bin/env python3
"""The application-service table of docs/performance.md, from nexus-bench's
JSON figures: bench_appservice_table.py WORKDIR SUFFIX MODE...

WORKDIR holds {nexus,synapse}-{mode}{SUFFIX}.json (SUFFIX is "-appservice"
in a full bench.sh run, "" in a run of that workload alone)."""

import json
import os
import sys

work, suffix, modes = sys.argv[1], sys.argv[2], sys.argv[3:]
print("| figure | mode | server | count | per second | p50 ms | p99 ms | events per transaction | errors |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
for figure, label in [("appservice_ghost_sends", "ghost sends"), ("appservice_delivery", "events delivered")]:
    for mode in modes:
        for server in ["nexus", "synapse"]:
            with open(os.path.join(work, f"{server}-{mode}{suffix}.json"), encoding="utf-8") as f:
                fig = json.load(f)[figure]
            batch = f"{fig['events_per_transaction']:.1f}" if "events_per_transaction" in fig else ""
            print(
                f"| {label} | {mode} | {server.capitalize()} | {fig['count']:.0f} | {fig['throughput_per_s']:,.0f} | "
                f"{fig['p50_ms']:.1f} | {fig['p99_ms']:.1f} | {batch} | {fig['errors']:.0f} |"
            )
