//! The query language people type into a search box.
//!
//! Plain words must all match (each allowing typos by its length);
//! `"exact phrases"` match in order; `-word` and `-"a phrase"` exclude.
//! Discord's filters: `from:` and `mentions:` (a user id or a local
//! username), `has:` (link, embed, file, image, video, sound, poll,
//! sticker), `in:` (a room id, alias or channel name), `before:`,
//! `after:` and `during:` (a UTC date, `YYYY-MM-DD`), `pinned:true|false`
//! and `is:thread`. A `key:` this language does not know is an ordinary
//! word (`http://…`, `re:`).

/// What a message contains, for `has:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Has {
    Link,
    Embed,
    File,
    Image,
    Video,
    Sound,
    Poll,
    Sticker,
}

impl Has {
    pub const ALL: [Has; 8] =
        [Has::Link, Has::Embed, Has::File, Has::Image, Has::Video, Has::Sound, Has::Poll, Has::Sticker];

    pub fn as_str(self) -> &'static str {
        match self {
            Has::Link => "link",
            Has::Embed => "embed",
            Has::File => "file",
            Has::Image => "image",
            Has::Video => "video",
            Has::Sound => "sound",
            Has::Poll => "poll",
            Has::Sticker => "sticker",
        }
    }

    pub fn parse(value: &str) -> Option<Has> {
        Has::ALL.into_iter().find(|h| h.as_str().eq_ignore_ascii_case(value))
    }
}

/// A query taken apart. Times are milliseconds since the epoch; `after`
/// is inclusive and `before` exclusive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedQuery {
    pub words: Vec<String>,
    pub phrases: Vec<String>,
    pub excluded: Vec<String>,
    pub from: Vec<String>,
    pub mentions: Vec<String>,
    pub has: Vec<Has>,
    pub in_rooms: Vec<String>,
    pub after: Option<u64>,
    pub before: Option<u64>,
    pub pinned: Option<bool>,
    pub thread: bool,
}

impl ParsedQuery {
    /// Whether anything narrows the search beyond the words.
    pub fn has_filters(&self) -> bool {
        !self.from.is_empty()
            || !self.mentions.is_empty()
            || !self.has.is_empty()
            || !self.in_rooms.is_empty()
            || self.after.is_some()
            || self.before.is_some()
            || self.pinned.is_some()
            || self.thread
    }

    /// Whether there is text to match (not only filters or exclusions).
    pub fn has_text(&self) -> bool {
        !self.words.is_empty() || !self.phrases.is_empty()
    }
}

const DAY_MS: u64 = 86_400_000;

/// Parses a query; the error names the filter and value that are wrong.
pub fn parse(input: &str) -> Result<ParsedQuery, String> {
    let mut query = ParsedQuery::default();
    for piece in pieces(input) {
        let Piece { text, quoted, negated } = piece;
        if quoted {
            if negated {
                query.excluded.push(text);
            } else {
                query.phrases.push(text);
            }
            continue;
        }
        if let Some((key, value)) = text.split_once(':')
            && apply_filter(&mut query, &key.to_ascii_lowercase(), value)?
        {
            continue;
        }
        if negated {
            query.excluded.push(text);
        } else {
            query.words.push(text);
        }
    }
    Ok(query)
}

/// Applies `key:value` if `key` is a filter; `false` if it is not one.
fn apply_filter(query: &mut ParsedQuery, key: &str, value: &str) -> Result<bool, String> {
    let value = value.trim_matches('"');
    let nonempty = |v: &str| if v.is_empty() { Err(format!("{key}: needs a value")) } else { Ok(v.to_owned()) };
    match key {
        "from" => query.from.push(nonempty(value)?),
        "mentions" => query.mentions.push(nonempty(value)?),
        "in" => query.in_rooms.push(nonempty(value)?),
        "has" => query.has.push(Has::parse(value).ok_or_else(|| {
            let known: Vec<&str> = Has::ALL.iter().map(|h| h.as_str()).collect();
            format!("has:{value} is not one of {}", known.join(", "))
        })?),
        "before" => {
            let day = day_start(value).ok_or_else(|| bad_date(key, value))?;
            query.before = Some(query.before.map_or(day, |b| b.min(day)));
        }
        "after" => {
            let next_day = day_start(value).ok_or_else(|| bad_date(key, value))? + DAY_MS;
            query.after = Some(query.after.map_or(next_day, |a| a.max(next_day)));
        }
        "during" => {
            let day = day_start(value).ok_or_else(|| bad_date(key, value))?;
            query.after = Some(query.after.map_or(day, |a| a.max(day)));
            query.before = Some(query.before.map_or(day + DAY_MS, |b| b.min(day + DAY_MS)));
        }
        "pinned" => {
            query.pinned = Some(match value.to_ascii_lowercase().as_str() {
                "true" | "yes" => true,
                "false" | "no" => false,
                _ => return Err(format!("pinned:{value} must be true or false")),
            })
        }
        "is" => match value.to_ascii_lowercase().as_str() {
            "thread" => query.thread = true,
            _ => return Err(format!("is:{value} is not a filter (is:thread is)")),
        },
        _ => return Ok(false),
    }
    Ok(true)
}

fn bad_date(key: &str, value: &str) -> String {
    format!("{key}:{value} is not a date (YYYY-MM-DD)")
}

/// Midnight UTC of `YYYY-MM-DD`, in milliseconds since the epoch.
fn day_start(value: &str) -> Option<u64> {
    let mut parts = value.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    let day: i64 = parts.next()?.parse().ok()?;
    if !(1970..=9999).contains(&year) || !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day)
    {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    u64::try_from(days).ok().map(|d| d * DAY_MS)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

struct Piece {
    text: String,
    quoted: bool,
    negated: bool,
}

/// Splits on whitespace, keeping `"quoted text"` (and `key:"quoted
/// value"`) together; a leading `-` negates.
fn pieces(input: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&first) = chars.peek() else { break };
        let mut negated = false;
        if first == '-' {
            chars.next();
            negated = true;
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let text: String = chars.by_ref().take_while(|&c| c != '"').collect();
            if !text.trim().is_empty() {
                out.push(Piece { text: text.trim().to_owned(), quoted: true, negated });
            }
            continue;
        }
        let mut text = String::new();
        let mut in_quotes = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() && !in_quotes {
                break;
            }
            if c == '"' {
                in_quotes = !in_quotes;
            }
            text.push(c);
            chars.next();
        }
        if !text.is_empty() {
            out.push(Piece { text, quoted: false, negated });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_phrases_and_exclusions() {
        let q = parse(r#"cats "black dog" -fish -"red herring""#).unwrap();
        assert_eq!(q.words, vec!["cats"]);
        assert_eq!(q.phrases, vec!["black dog"]);
        assert_eq!(q.excluded, vec!["fish", "red herring"]);
        assert!(!q.has_filters());
    }

    #[test]
    fn discord_filters() {
        let q =
            parse("from:@alice:hs mentions:bob has:image HAS:link in:#general:hs pinned:true is:thread hello").unwrap();
        assert_eq!(q.from, vec!["@alice:hs"]);
        assert_eq!(q.mentions, vec!["bob"]);
        assert_eq!(q.has, vec![Has::Image, Has::Link]);
        assert_eq!(q.in_rooms, vec!["#general:hs"]);
        assert_eq!(q.pinned, Some(true));
        assert!(q.thread);
        assert_eq!(q.words, vec!["hello"]);
    }

    #[test]
    fn quoted_filter_values() {
        let q = parse(r#"in:"general chat" x"#).unwrap();
        assert_eq!(q.in_rooms, vec!["general chat"]);
        assert_eq!(q.words, vec!["x"]);
    }

    #[test]
    fn dates_are_utc_days() {
        let q = parse("during:2024-02-29").unwrap();
        assert_eq!(q.after, Some(1_709_164_800_000));
        assert_eq!(q.before, Some(1_709_164_800_000 + DAY_MS));
        // `after:` is the day after, as Discord means it.
        let q = parse("after:1970-01-01 before:1970-01-03").unwrap();
        assert_eq!(q.after, Some(DAY_MS));
        assert_eq!(q.before, Some(2 * DAY_MS));
    }

    #[test]
    fn unknown_keys_are_words() {
        let q = parse("https://example.org re:thing").unwrap();
        assert_eq!(q.words, vec!["https://example.org", "re:thing"]);
    }

    #[test]
    fn bad_values_are_named() {
        assert!(parse("has:spaceship").unwrap_err().contains("has:spaceship"));
        assert!(parse("before:2023-02-30").unwrap_err().contains("before:2023-02-30"));
        assert!(parse("pinned:maybe").is_err());
        assert!(parse("is:dm").is_err());
        assert!(parse("from:").is_err());
    }

    #[test]
    fn unterminated_quotes_do_not_panic() {
        let q = parse("\"open ended").unwrap();
        assert_eq!(q.phrases, vec!["open ended"]);
        assert!(parse("-").unwrap().words.is_empty());
        assert!(parse("\"\"").unwrap().phrases.is_empty());
    }
}
