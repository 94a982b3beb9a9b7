use super::*;
use crate::parse;

const DAY: u64 = 86_400_000;
const NOW: u64 = 1_000 * DAY;

fn doc(id: &str, room: &str, sender: &str, body: &str, ordering: u64) -> Document {
    Document {
        event_id: id.to_owned(),
        room_id: room.to_owned(),
        sender: sender.to_owned(),
        kind: "m.room.message".to_owned(),
        ts: NOW - (100 - ordering.min(100)) * DAY,
        ordering,
        body: body.to_owned(),
        ..Document::default()
    }
}

fn search(index: &Index, query: &str, rooms: &[&str]) -> Vec<String> {
    run(index, query, rooms, Order::Rank).hits.into_iter().map(|h| h.event_id).collect()
}

fn run(index: &Index, query: &str, rooms: &[&str], order: Order) -> Page {
    let parsed = parse(query).unwrap();
    let s = Search {
        text: TextQuery { words: parsed.words, phrases: parsed.phrases, excluded: parsed.excluded, prefix: false },
        rooms: rooms.iter().map(|r| r.to_string()).collect(),
        order,
        limit: 10,
        now_ms: NOW,
        ..Search::default()
    };
    index.search(&s).unwrap()
}

fn sample() -> Index {
    let index = Index::open(None, "english").unwrap();
    index.upsert(&doc("$1", "!a", "@alice:hs", "I will receive the parcel tomorrow", 1)).unwrap();
    index.upsert(&doc("$2", "!a", "@bob:hs", "The black dog barked at the mailman", 2)).unwrap();
    index.upsert(&doc("$3", "!b", "@alice:hs", "A dog that is black and white", 3)).unwrap();
    index.upsert(&doc("$4", "!a", "@bob:hs", "Café opening hours changed", 4)).unwrap();
    index.commit().unwrap();
    index
}

#[test]
fn finds_words_with_stemming_and_typos() {
    let index = sample();
    assert_eq!(search(&index, "received", &["!a", "!b"]), vec!["$1"]);
    assert_eq!(search(&index, "recieve", &["!a", "!b"]), vec!["$1"], "a swap is one typo");
    assert_eq!(search(&index, "cafe", &["!a"]), vec!["$4"], "accents fold");
    assert!(search(&index, "cat", &["!a", "!b"]).is_empty(), "short words take no typos");
}

#[test]
fn only_the_rooms_given() {
    let index = sample();
    assert_eq!(search(&index, "dog", &["!b"]), vec!["$3"]);
    assert!(search(&index, "dog", &[]).is_empty());
}

#[test]
fn phrases_and_exclusions() {
    let index = sample();
    assert_eq!(search(&index, "\"black dog\"", &["!a", "!b"]), vec!["$2"]);
    assert_eq!(search(&index, "dog -mailman", &["!a", "!b"]), vec!["$3"]);
    assert_eq!(search(&index, "dog -\"black and white\"", &["!a", "!b"]), vec!["$2"]);
}

#[test]
fn upsert_replaces_and_remove_removes() {
    let index = sample();
    index.upsert(&doc("$2", "!a", "@bob:hs", "The cat purred", 2)).unwrap();
    index.remove_event("$3").unwrap();
    index.commit().unwrap();
    assert!(search(&index, "dog", &["!a", "!b"]).is_empty());
    assert_eq!(search(&index, "purred", &["!a"]), vec!["$2"]);
    index.remove_room("!a").unwrap();
    index.commit().unwrap();
    assert!(search(&index, "purred", &["!a"]).is_empty());
    assert_eq!(index.len(), 0);
}

#[test]
fn pages_never_repeat_in_either_order() {
    let index = Index::open(None, "english").unwrap();
    for i in 0..25u64 {
        let body = format!("hello number {i} {}", "hello ".repeat((i % 4) as usize));
        index.upsert(&doc(&format!("${i}"), "!a", "@a:hs", &body, i)).unwrap();
    }
    index.commit().unwrap();
    for order in [Order::Rank, Order::Recent] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let s = Search {
                text: TextQuery { words: vec!["hello".into()], ..TextQuery::default() },
                rooms: vec!["!a".into()],
                order,
                cursor,
                limit: 7,
                now_ms: NOW,
                ..Search::default()
            };
            let page = index.search(&s).unwrap();
            assert_eq!(page.count, 25);
            seen.extend(page.hits.iter().map(|h| h.event_id.clone()));
            cursor = page.hits.last().map(|h| Cursor::from_token(&h.cursor.to_token()).unwrap());
            if page.exhausted {
                break;
            }
        }
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 25, "{order:?}: {seen:?}");
        assert_eq!(seen.len(), 25, "{order:?}");
        if order == Order::Recent {
            assert_eq!(seen[0], "$24");
            assert_eq!(seen[24], "$0");
        }
    }
}

#[test]
fn recency_breaks_near_ties() {
    let index = Index::open(None, "english").unwrap();
    let mut old = doc("$old", "!a", "@a:hs", "release notes", 1);
    old.ts = NOW - 365 * DAY;
    let mut new = doc("$new", "!a", "@a:hs", "release notes", 2);
    new.ts = NOW - DAY;
    index.upsert(&old).unwrap();
    index.upsert(&new).unwrap();
    index.commit().unwrap();
    assert_eq!(search(&index, "release", &["!a"]), vec!["$new", "$old"]);
}

#[test]
fn filters() {
    let index = Index::open(None, "english").unwrap();
    let mut image = doc("$img", "!a", "@alice:hs", "holiday photo", 1);
    image.has = vec![Has::Image, Has::File];
    let mut mention = doc("$m", "!a", "@bob:hs", "holiday plans @alice", 2);
    mention.mentions = vec!["@alice:hs".into()];
    mention.in_thread = true;
    let mut poll = doc("$p", "!a", "@bob:hs", "holiday where?", 3);
    poll.kind = "m.poll.start".into();
    poll.has = vec![Has::Poll];
    for d in [&image, &mention, &poll] {
        index.upsert(d).unwrap();
    }
    index.commit().unwrap();
    let base = || Search {
        text: TextQuery { words: vec!["holiday".into()], ..TextQuery::default() },
        rooms: vec!["!a".into()],
        limit: 10,
        now_ms: NOW,
        ..Search::default()
    };
    let ids = |s: Search| -> Vec<String> {
        let mut v: Vec<String> = index.search(&s).unwrap().hits.into_iter().map(|h| h.event_id).collect();
        v.sort();
        v
    };
    assert_eq!(ids(Search { senders: vec!["@alice:hs".into()], ..base() }), vec!["$img"]);
    assert_eq!(ids(Search { not_senders: vec!["@alice:hs".into()], ..base() }), vec!["$m", "$p"]);
    assert_eq!(ids(Search { has: vec![Has::Image], ..base() }), vec!["$img"]);
    assert_eq!(ids(Search { has: vec![Has::Poll], ..base() }), vec!["$p"]);
    assert_eq!(ids(Search { mentions: vec!["@alice:hs".into()], ..base() }), vec!["$m"]);
    assert_eq!(ids(Search { thread_only: true, ..base() }), vec!["$m"]);
    assert_eq!(ids(Search { types: vec!["m.poll.start".into()], ..base() }), vec!["$p"]);
    assert_eq!(ids(Search { event_ids: Some(vec!["$p".into()]), ..base() }), vec!["$p"]);
    assert_eq!(ids(Search { event_ids: Some(vec![]), ..base() }), Vec::<String>::new());
    // $img is 99 days old, $m 98, $p 97.
    assert_eq!(ids(Search { after_ms: Some(NOW - 98 * DAY), ..base() }), vec!["$m", "$p"]);
    assert_eq!(ids(Search { before_ms: Some(NOW - 98 * DAY), ..base() }), vec!["$img"]);
    // Filters alone, no words.
    assert_eq!(ids(Search { text: TextQuery::default(), has: vec![Has::File], ..base() }), vec!["$img"]);
}

#[test]
fn prefix_while_typing() {
    let index = sample();
    let s = Search {
        text: TextQuery { words: vec!["parc".into()], prefix: true, ..TextQuery::default() },
        rooms: vec!["!a".into()],
        limit: 10,
        now_ms: NOW,
        ..Search::default()
    };
    assert_eq!(index.search(&s).unwrap().hits[0].event_id, "$1");
}

#[test]
fn highlights_show_the_words_found() {
    let index = sample();
    let text = TextQuery { words: vec!["recieve".into(), "tomorow".into()], ..TextQuery::default() };
    assert_eq!(index.highlights(&text, "I will Receive the parcel tomorrow"), vec!["receive", "tomorrow"]);
}

#[test]
fn persists_and_knows_when_to_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("search");
    {
        let index = Index::open(Some(&path), "english").unwrap();
        assert!(index.needs_rebuild());
        index.upsert(&doc("$1", "!a", "@a:hs", "durable words", 1)).unwrap();
        index.mark_complete().unwrap();
    }
    let index = Index::open(Some(&path), "english").unwrap();
    assert!(!index.needs_rebuild());
    assert_eq!(search(&index, "durable", &["!a"]), vec!["$1"]);
    drop(index);
    let index = Index::open(Some(&path), "german").unwrap();
    assert!(index.needs_rebuild(), "another language stems differently");
}

#[test]
fn bad_cursors_are_refused() {
    assert!(Cursor::from_token("garbage").is_err());
    assert!(Cursor::from_token("r1.2").is_err());
    assert!(Cursor::from_token("").is_err());
    let index = sample();
    let page = run(&index, "dog", &["!a", "!b"], Order::Rank);
    let s = Search {
        text: TextQuery { words: vec!["dog".into()], ..TextQuery::default() },
        rooms: vec!["!a".into()],
        order: Order::Recent,
        cursor: Some(page.hits[0].cursor),
        limit: 10,
        ..Search::default()
    };
    assert!(index.search(&s).is_err());
}

#[test]
fn long_queries_stay_bounded() {
    let index = sample();
    let mut words: Vec<String> = vec!["parcel".into()];
    words.extend((0..5000).map(|i| format!("w{i}")));
    let s = Search {
        text: TextQuery { words, ..TextQuery::default() },
        rooms: vec!["!a".into()],
        limit: 10,
        now_ms: NOW,
        ..Search::default()
    };
    // Only the first words count; the rest are ignored, not an error.
    assert!(index.search(&s).unwrap().hits.is_empty());
}

#[test]
fn a_second_process_only_reads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("search");
    let writer = Index::open(Some(&path), "english").unwrap();
    let reader = Index::open(Some(&path), "english").unwrap();
    assert!(writer.is_writable());
    assert!(!reader.is_writable());
    assert!(matches!(reader.upsert(&doc("$1", "!a", "@a:hs", "words", 1)), Err(crate::Error::ReadOnly)));
    assert!(matches!(reader.clear(), Err(crate::Error::ReadOnly)));
}
