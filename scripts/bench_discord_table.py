#!/usr/bin/env python3
"""The "Discord bot API" section of docs/performance.md, from nexus-bench's
JSON figures (`--workload discord`; Nexus only, Synapse has no bot API):

    bench_discord_table.py [--into FILE] WORKDIR SUFFIX COMMAND MODE...

WORKDIR holds nexus-{mode}{SUFFIX}.json (SUFFIX is "-discord" in a full
bench.sh run, "" in a run of that workload alone). Without --into the
section is printed (bench.sh appends it); with --into it replaces the
section of FILE (from its heading to the next "## " heading), or is
appended when FILE has none."""

import datetime
import json
import os
import re
import sys
import textwrap

HEADING = "## Discord bot API"


def number(value, digits=0):
    return f"{value:,.{digits}f}"


def ms(value):
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def pair(fig, low, high):
    return f"{ms(fig[low])} / {ms(fig[high])}"


def wrap(text):
    """78 columns, never breaking inside a `code span`."""
    kept = re.sub(r"`[^`]*`", lambda m: m.group(0).replace(" ", "\0"), text)
    return textwrap.fill(kept, width=78, break_on_hyphens=False, break_long_words=False).replace("\0", " ")


def section(work, suffix, command, modes):
    figures = {}
    for mode in modes:
        with open(os.path.join(work, f"nexus-{mode}{suffix}.json"), encoding="utf-8") as f:
            figures[mode] = json.load(f)
    first = figures[modes[0]]
    creates, dispatch = first["discord_rest_creates"], first["discord_dispatch_latency"]
    sessions = first.get("discord_gateway_sessions")
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        "The Discord-compatible bot API (`appservice-bridge`) that `nexus serve` runs "
        "in-process, driven by `nexus-bench --workload discord` with its own REST and "
        "gateway (WebSocket) client. Synapse has no bot API, so only Nexus is measured. "
        f"Setup (not measured): one owner, one Nexus server with {creates['channels']:.0f} text "
        f"channels, and {creates['bots']:.0f} bots (applications with the MESSAGE_CONTENT intent) "
        "added to it through the developer portal. "
        f"**REST creates**: {creates['workers']:.0f} workers, each acting as one of the bots, send "
        "`POST /api/v10/channels/{id}/messages` one after another, round-robin over the "
        "channels, until 10,000 or 30 s (the driver's defaults). The bot API allows 10 "
        "creates per 2 s per bot and channel, and 50 requests a second per bot, so these "
        "bots may create at most "
        f"{number(creates['rate_limit_ceiling_per_s'])} per second; the workers pace themselves by the "
        "`X-RateLimit-*` headers, as discord.py does, and a 429 that still comes is waited "
        "out and counted. Latency is the request that created the message; no gateway "
        f"session is connected meanwhile. **Dispatch**: all {dispatch['sessions']:.0f} bots connected "
        "to the gateway; the owner sends one message at a time (up to 500, or 30 s) to "
        "`general` through the client-server API; latency runs from issuing the "
        "`PUT /send` to the MESSAGE_CREATE carrying that text arriving on the first bot's "
        "socket (the send's own answer beside it)."
    )
    if sessions:
        text += (
            f" **Sessions**: {sessions['sessions']:,.0f} gateway sessions identify with the bots' "
            "tokens in turn, 16 at a time; latency is one session's WebSocket connect, "
            "HELLO, IDENTIFY, READY and GUILD_CREATE, the wall time is all of them; memory "
            "is the growth of the server's resident memory per session. **Fan-out**: with "
            "them all connected, one message at a time (20), from the send until the last "
            "session has its MESSAGE_CREATE."
        )
    text += f" Release Nexus on RocksDB; modes as above. Measured {when} (`{command}`)."
    out = ["", HEADING, "", wrap(text)]
    out += [
        "",
        "| figure | " + " | ".join(modes) + " |",
        "|---|" + "---:|" * len(modes),
    ]

    def row(label, render, figure):
        cells = []
        for mode in modes:
            fig = figures[mode].get(figure)
            cells.append(render(fig) if fig else "—")
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    row("REST message creates per second", lambda f: number(f["throughput_per_s"]), "discord_rest_creates")
    row("REST create latency p50 / p99 ms", lambda f: pair(f, "p50_ms", "p99_ms"), "discord_rest_creates")
    row("REST creates (429s waited out, errors)",
        lambda f: f"{f['count']:,.0f} ({f['retries_429']:.0f}, {f['errors']:.0f})", "discord_rest_creates")
    row("Matrix send → MESSAGE_CREATE on the bot's socket, p50 / p99 ms",
        lambda f: pair(f, "p50_ms", "p99_ms"), "discord_dispatch_latency")
    row("the Matrix send's own answer, p50 / p99 ms",
        lambda f: pair(f, "matrix_send_p50_ms", "matrix_send_p99_ms"), "discord_dispatch_latency")
    row("messages dispatched (lost)", lambda f: f"{f['count']:,.0f} ({f['errors']:.0f})", "discord_dispatch_latency")
    if sessions:
        row("gateway sessions connected, all READY within",
            lambda f: f"{f['sessions']:,.0f} in {f['duration_ms'] / 1000:,.1f} s", "discord_gateway_sessions")
        row("one session's connect → READY + GUILD_CREATE, p50 / p99 ms",
            lambda f: pair(f, "p50_ms", "p99_ms"), "discord_gateway_sessions")
        row("server memory per session, KiB",
            lambda f: number(f["rss_per_session_kib"]) if "rss_per_session_kib" in f else "—",
            "discord_gateway_sessions")
        row("fan-out to every session, p50 / p99 ms (first session p50)",
            lambda f: f"{pair(f, 'p50_ms', 'p99_ms')} ({ms(f['first_session_p50_ms'])})", "discord_gateway_fanout")
    return "\n".join(out) + "\n"


def splice(path, text):
    with open(path, encoding="utf-8") as f:
        doc = f.read()
    start = doc.find("\n" + HEADING + "\n")
    if start < 0:
        doc = doc.rstrip("\n") + "\n" + text
    else:
        after = doc.find("\n## ", start + len(HEADING) + 2)
        rest = doc[after:] if after >= 0 else ""
        doc = doc[:start].rstrip("\n") + "\n" + text + rest
    with open(path, "w", encoding="utf-8") as f:
        f.write(doc)


def main(args):
    into = None
    if args[:1] == ["--into"]:
        into, args = args[1], args[2:]
    if len(args) < 4:
        sys.exit(__doc__)
    work, suffix, command, modes = args[0], args[1], args[2], args[3:]
    text = section(work, suffix, command, modes)
    if into:
        splice(into, text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
