//! How text becomes terms, and how far a typed word may be from a stored
//! one. Indexing, querying and highlighting all go through here, so a word
//! found is a word highlighted.

use tantivy::tokenizer::{
    AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer, TextAnalyzer, TokenStream,
};

/// The analyzer's name in the index's tokenizer manager.
pub const TEXT_ANALYZER: &str = "nexus_text";

/// Longer tokens (base64 blobs, long URLs) are not words anyone searches.
const MAX_TOKEN_BYTES: usize = 40;

/// The stemming languages (Snowball's). English unless configured.
pub use tantivy::tokenizer::Language;

/// A language from its configuration name (`"english"`, `"german"` …).
pub fn language(name: &str) -> Option<Language> {
    Some(match name.to_ascii_lowercase().as_str() {
        "arabic" => Language::Arabic,
        "danish" => Language::Danish,
        "dutch" => Language::Dutch,
        "english" => Language::English,
        "finnish" => Language::Finnish,
        "french" => Language::French,
        "german" => Language::German,
        "greek" => Language::Greek,
        "hungarian" => Language::Hungarian,
        "italian" => Language::Italian,
        "norwegian" => Language::Norwegian,
        "portuguese" => Language::Portuguese,
        "romanian" => Language::Romanian,
        "russian" => Language::Russian,
        "spanish" => Language::Spanish,
        "swedish" => Language::Swedish,
        "tamil" => Language::Tamil,
        "turkish" => Language::Turkish,
        _ => return None,
    })
}

/// Words, lower-cased and folded to ASCII where a letter has an ASCII
/// form (`café` finds `cafe`), then stemmed (`receiving` finds `receive`).
/// Stop words are kept: ranking already weighs common words down, and a
/// search for "the who" must still find something.
pub fn text_analyzer(language: Language) -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(Stemmer::new(language))
        .build()
}

/// The same words without stemming: what highlighting shows.
fn word_analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// The terms `text` is indexed (or queried) as.
pub fn terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut stream = analyzer.token_stream(text);
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// Each word of `text` (lower-cased, folded) with the term it is indexed as.
pub fn words_with_terms(analyzer: &mut TextAnalyzer, text: &str) -> Vec<(String, String)> {
    let mut words = word_analyzer();
    terms(&mut words, text)
        .into_iter()
        .map(|word| {
            let term = terms(analyzer, &word).pop().unwrap_or_else(|| word.clone());
            (word, term)
        })
        .collect()
}

/// How many typos a typed word may carry, by its length in characters:
/// none for short words (where one edit makes another word), one from five
/// letters, two from nine. A swap of two neighbouring letters is one typo.
pub fn typo_budget(word: &str) -> u8 {
    match word.chars().count() {
        0..=4 => 0,
        5..=8 => 1,
        _ => 2,
    }
}

/// Whether `a` and `b` are at most `max` edits apart (insertions,
/// deletions, substitutions, and swaps of neighbouring characters —
/// optimal string alignment distance, as the index's automata count).
pub fn within_edits(a: &str, b: &str, max: u8) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let max = usize::from(max);
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    // Three rows of the dynamic programme: two back, one back, this one.
    let mut before_last: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut row = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            row[j] = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                row[j] = row[j].min(before_last[j - 2] + 1);
            }
        }
        before_last = std::mem::replace(&mut last, row);
    }
    last[b.len()] <= max
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_folds_and_lowercases() {
        let mut analyzer = text_analyzer(Language::English);
        assert_eq!(terms(&mut analyzer, "Receiving CAFÉ"), vec!["receiv", "cafe"]);
        assert_eq!(terms(&mut analyzer, "received"), terms(&mut analyzer, "receive"));
    }

    #[test]
    fn keeps_stop_words_and_drops_blobs() {
        let mut analyzer = text_analyzer(Language::English);
        assert_eq!(terms(&mut analyzer, "the who"), vec!["the", "who"]);
        assert!(terms(&mut analyzer, &"x".repeat(100)).is_empty());
    }

    #[test]
    fn typo_budget_grows_with_the_word() {
        assert_eq!(typo_budget("cat"), 0);
        assert_eq!(typo_budget("recieve"), 1);
        assert_eq!(typo_budget("accommodation"), 2);
    }

    #[test]
    fn edit_distance_counts_a_swap_once() {
        assert!(within_edits("reciev", "receiv", 1));
        assert!(within_edits("kitten", "sitten", 1));
        assert!(!within_edits("kitten", "sitting", 2));
        assert!(within_edits("kitten", "sitting", 3));
        assert!(within_edits("", "", 0));
        assert!(!within_edits("abc", "", 2));
    }

    #[test]
    fn words_carry_their_terms() {
        let mut analyzer = text_analyzer(Language::English);
        assert_eq!(
            words_with_terms(&mut analyzer, "Receiving mail"),
            vec![("receiving".to_owned(), "receiv".to_owned()), ("mail".to_owned(), "mail".to_owned())]
        );
    }

    #[test]
    fn languages_by_name() {
        assert!(matches!(language("German"), Some(Language::German)));
        assert!(language("klingon").is_none());
    }
}
