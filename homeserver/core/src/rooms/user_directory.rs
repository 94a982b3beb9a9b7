//! The user directory (spec: client-server API, "User directory";
//! `POST /user_directory/search`, which Element's "start chat" and invite
//! dialogs use): the users the searcher shares a room with, and the
//! members of public rooms, found by display name or user id.
//!
//! Kept current by the event pipeline: every join (local or from another
//! server) records the member's name and avatar and indexes the words of
//! both, so a search is a prefix scan over the word index plus a bounded
//! number of visibility checks — its cost does not grow with the number
//! of users, only with the (capped) number of candidates.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use nexus_storage::catalog::{USER_DIRECTORY, USER_DIRECTORY_WORDS};
use nexus_storage::codec::{KeyBuilder, KeyReader};
use nexus_storage::{Direction, KeyRange, Store, WriteBatch};
use ruma::{OwnedUserId, UserId};
use serde::{Deserialize, Serialize};

use crate::Result;
use crate::values::{corrupt, decode, encode};

/// At most this many index entries are read per search.
const MAX_CANDIDATES: usize = 500;

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct DirectoryEntry {
    pub display_name: Option<String>,
    pub avatar_url: Option<String>,
    /// The words this entry is indexed under (to remove them on a change).
    words: Vec<String>,
}

/// The lowercase words a user is found by: their display name's words, the
/// localpart, the user id without its sigil, and the user id's words.
fn words_of(user: &UserId, display_name: Option<&str>) -> Vec<String> {
    let mut words: Vec<String> = display_name.map(split_words).unwrap_or_default();
    words.push(user.localpart().to_lowercase());
    words.push(user.as_str().trim_start_matches('@').to_lowercase());
    words.extend(split_words(user.as_str()));
    words.sort();
    words.dedup();
    words
}

/// Lowercase words, split on anything that is not a letter or digit.
pub fn split_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

fn word_key(word: &str, user: &UserId) -> Vec<u8> {
    KeyBuilder::new().str(word).str(user.as_str()).build()
}

pub struct UserDirectory {
    store: Arc<dyn Store>,
}

/// One search hit before visibility and ranking.
pub struct Candidate {
    pub user_id: OwnedUserId,
    pub entry: DirectoryEntry,
}

impl UserDirectory {
    pub fn new(store: Arc<dyn Store>) -> Self {
        UserDirectory { store }
    }

    async fn entry(&self, user: &UserId) -> Result<Option<DirectoryEntry>> {
        let bytes = self.store.get(&USER_DIRECTORY, user.as_str().as_bytes()).await?;
        bytes.map(|b| decode(&USER_DIRECTORY, &b)).transpose()
    }

    /// Adds a joined member's current name and avatar to `batch` (the
    /// newest join anywhere wins: it is what the user looks like now).
    pub async fn record(
        &self,
        batch: &mut WriteBatch,
        user: &UserId,
        display_name: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<()> {
        let old = self.entry(user).await?;
        let entry = DirectoryEntry {
            display_name: display_name.map(str::to_owned),
            avatar_url: avatar_url.map(str::to_owned),
            words: words_of(user, display_name),
        };
        if old.as_ref() == Some(&entry) {
            return Ok(());
        }
        for word in old.iter().flat_map(|o| &o.words) {
            if !entry.words.contains(word) {
                batch.delete(&USER_DIRECTORY_WORDS, word_key(word, user));
            }
        }
        for word in &entry.words {
            batch.put(&USER_DIRECTORY_WORDS, word_key(word, user), Vec::new());
        }
        batch.put(&USER_DIRECTORY, user.as_str().as_bytes().to_vec(), encode(&entry));
        Ok(())
    }

    /// Users with a word starting with each of `terms` (lowercase words),
    /// looked up through the longest term; `true` when the cap cut the
    /// candidates short.
    pub async fn candidates(&self, terms: &[String]) -> Result<(Vec<Candidate>, bool)> {
        let Some(probe) = terms.iter().max_by_key(|t| t.len()) else { return Ok((Vec::new(), false)) };
        let prefix = KeyBuilder::new().str_prefix(probe);
        let entries = self
            .store
            .scan(&USER_DIRECTORY_WORDS, KeyRange::prefix(&prefix), Direction::Forward, MAX_CANDIDATES)
            .await?;
        let capped = entries.len() == MAX_CANDIDATES;
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        for (key, _) in entries {
            let mut reader = KeyReader::new(&key);
            reader.str().map_err(|e| corrupt(&USER_DIRECTORY_WORDS, e))?;
            let user = reader.str().map_err(|e| corrupt(&USER_DIRECTORY_WORDS, e))?;
            let user = OwnedUserId::try_from(user).map_err(|e| corrupt(&USER_DIRECTORY_WORDS, e))?;
            if !seen.insert(user.clone()) {
                continue;
            }
            let Some(entry) = self.entry(&user).await? else { continue };
            let all_match = terms.iter().all(|term| entry.words.iter().any(|w| w.starts_with(term.as_str())));
            if all_match {
                found.push(Candidate { user_id: user, entry });
            }
        }
        Ok((found, capped))
    }
}

/// Orders hits best first: a display name equal to the search, then one
/// starting with it, then a localpart starting with it, then the rest;
/// ties by user id.
pub fn rank(hits: &mut [Candidate], search: &str) {
    let search = search.trim().to_lowercase();
    let score = |c: &Candidate| {
        let name = c.entry.display_name.as_deref().unwrap_or_default().to_lowercase();
        match () {
            _ if name == search => 0,
            _ if name.starts_with(&search) => 1,
            _ if c.user_id.localpart().to_lowercase().starts_with(&search) => 2,
            _ => 3,
        }
    };
    let scores: HashMap<OwnedUserId, i32> = hits.iter().map(|c| (c.user_id.clone(), score(c))).collect();
    hits.sort_by(|a, b| scores[&a.user_id].cmp(&scores[&b.user_id]).then_with(|| a.user_id.cmp(&b.user_id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_is_found_by_the_words_of_their_name_and_id() {
        let user = UserId::parse("@alice.l:example.org").unwrap();
        let words = words_of(&user, Some("Alice Liddell-Hart"));
        for word in ["alice", "liddell", "hart", "alice.l", "alice.l:example.org"] {
            assert!(words.iter().any(|w| w == word), "{word} in {words:?}");
        }
        assert_eq!(split_words("  Héloïse O'Brien "), vec!["héloïse", "o", "brien"]);
    }
}
