#!/usr/bin/env python3
"""Writes the "Search" section of docs/performance.md from the JSON figures
of `NEXUS_BENCH_WORKLOAD=search scripts/bench.sh` (called by it).

Usage: bench_search_table.py <performance.md> <work dir> <synapse version> <command> <mode>...
"""
import datetime, json, os, sys
sys.path.insert(0, "scripts")
from bench_report import machine, ms, replace_section, wrap

HEADING = "## Search"
doc, work, synapse_version, command, modes = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
figures = {}
for server in ("nexus", "synapse"):
    for mode in modes:
        path = os.path.join(work, f"{server}-{mode}.json")
        figures[server, mode] = json.load(open(path, encoding="utf-8")) if os.path.exists(path) else {}


def cell(server, mode, name, render):
    fig = figures[server, mode].get(name)
    return render(fig) if fig else "—"


corpus = figures["nexus", modes[0]].get("search_corpus_sends") or figures["synapse", modes[0]]["search_corpus_sends"]
when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
text = (
    "Full-text search over the same generated corpus on both servers, driven by "
    "`nexus-bench --workload search` (`complement-tests/src/bench/search.rs`). Setup (not measured): "
    f"{corpus['users']:,.0f} users, all in {corpus['rooms']:,.0f} rooms. **Corpus**: {corpus['messages']:,.0f} "
    "messages (1,000,000 × scale, or `NEXUS_BENCH_SEARCH_MESSAGES`), message *i* made from *i* alone by a "
    "fixed PRNG, so both servers hold the same text: one to three sentences of words drawn from a "
    f"{corpus['vocabulary']:,.0f}-word vocabulary (common English words first, then made-up ones) by a "
    "Zipf law, with short function words between; "
    f"{corpus['links_percent']:.0f}% end with an `https://` link and {corpus['mentions_percent']:.0f}% "
    f"start by mentioning another user (`m.mentions`). {corpus['senders']:,.0f} senders send it all at once "
    "(at most 30 minutes); the server indexes meanwhile, so the send rate is the rate with indexing. "
    "**Indexed per second**: after the corpus, one more message with a word never sent before; the "
    "searcher repeats a search for that word until it is found; the figure is the messages sent "
    "divided by the time from the first corpus send to that answer (what becomes searchable per "
    "second, sending included). Nexus indexes asynchronously, from a durable feed written with each "
    "event, and a search waits up to 2 s for the index to hold everything persisted before it "
    "began; Synapse writes an event's search row (a PostgreSQL `tsvector`) in the transaction that "
    "stores the event, so its figure is its send rate. **Queries**: the searcher's "
    "`POST /_matrix/client/v3/search`, one after another, up to 200 of each kind or 30 s, 10 results "
    "a page, after one unmeasured request: one of the 50 most common words (`rank`); a two-word phrase "
    "in quotes taken from a sent message; a word of a sent message with two neighbouring letters "
    "swapped (Nexus allows one typo in a word of five to eight letters; Synapse's PostgreSQL "
    "full-text search has no typo tolerance, so its hits show what it finds without it); the most "
    "common word of a sent message with `filter.senders` = its sender and `filter.rooms` = its room, "
    "`order_by: recent`; and, Nexus only, the same through `POST /_nexus/client/v1/search` as "
    "`from:<sender> has:link <word>` in that room, on messages with a link. Hits: queries with at least "
    "one result / queries answered (mean `count`, the server's estimate of all matches). Latency runs "
    "until the answer's last byte was read. "
    f"Release Nexus on RocksDB, Synapse {synapse_version} from PyPI on PostgreSQL; modes as above; "
    f"{machine()}. Measured {when} (`{command}`)."
)
out = ["", HEADING, "", wrap(text), "", "| figure | mode | Nexus | Synapse |", "|---|---|---:|---:|"]
sends = [
    ("corpus messages sent (errors)", "search_corpus_sends", lambda f: f"{f['count']:,.0f} ({f['errors']:.0f})"),
    ("sends per second, indexing meanwhile", "search_corpus_sends", lambda f: f"{f['throughput_per_s']:,.0f}"),
    ("send latency p50 / p99 ms", "search_corpus_sends", lambda f: f"{ms(f['p50_ms'])} / {ms(f['p99_ms'])}"),
    ("indexed per second (first send → last message found)", "search_indexed",
     lambda f: f"{f['indexed_per_s']:,.0f}"),
    ("last send → last message found, ms", "search_indexed", lambda f: ms(f["after_last_send_ms"])),
]
for label, name, render in sends:
    for mode in modes:
        out.append(f"| {label} | {mode} | {cell('nexus', mode, name, render)} | {cell('synapse', mode, name, render)} |")
out += [
    "",
    "| query | mode | Nexus p50 / p99 ms | Synapse p50 / p99 ms | Nexus hits | Synapse hits |",
    "|---|---|---:|---:|---:|---:|",
]
queries = [
    ("one common word", "search_common_word"),
    ("two-word phrase in quotes", "search_phrase"),
    ("one misspelled word", "search_misspelled"),
    ("common word, one sender, one room, recent first", "search_filtered"),
    ("Nexus search: `from:` `has:link` word, one room", "search_nexus_filtered"),
]
latency = lambda f: f"{ms(f['p50_ms'])} / {ms(f['p99_ms'])}"
mean = lambda v: f"{v:,.0f}" if v >= 10 else f"{v:.2g}"
hits = lambda f: f"{f['queries_with_results']:,.0f}/{f['count']:,.0f} ({mean(f['hits_mean'])})"
for label, name in queries:
    for mode in modes:
        row = [cell(server, mode, name, render) for render in (latency, hits) for server in ("nexus", "synapse")]
        out.append(f"| {label} | {mode} | {row[0]} | {row[1]} | {row[2]} | {row[3]} |")
replace_section(doc, HEADING, "\n".join(out) + "\n")
