//! The scheduled delayed events, in memory: ordered by due time for the
//! timer, by owner for the per-user limit, and by the piece of state they
//! would write so that someone else's write cancels them.
//!
//! One ordered set serves every timer: the firing task sleeps until the
//! first entry is due, so 100,000 pending events cost 100,000 small entries,
//! not 100,000 tasks. The store holds the truth; this index is rebuilt from
//! it at start. Removing an entry here is how a firing, a cancel or a send
//! claims a delayed event: whoever removes it acts on it, anyone later finds
//! nothing.

use std::collections::{BTreeSet, HashMap, HashSet};

use ruma::{OwnedRoomId, OwnedUserId};

/// The piece of room state a delayed state event would write.
pub type StateSlot = (OwnedRoomId, String, String);

struct Entry {
    owner: OwnedUserId,
    due_ms: u64,
    slot: Option<StateSlot>,
}

#[derive(Default)]
pub struct Pending {
    entries: HashMap<String, Entry>,
    by_due: BTreeSet<(u64, String)>,
    by_owner: HashMap<OwnedUserId, HashSet<String>>,
    by_slot: HashMap<StateSlot, HashSet<String>>,
}

impl Pending {
    pub fn insert(&mut self, id: String, owner: OwnedUserId, due_ms: u64, slot: Option<StateSlot>) {
        self.remove(&id);
        self.by_due.insert((due_ms, id.clone()));
        self.by_owner.entry(owner.clone()).or_default().insert(id.clone());
        if let Some(slot) = &slot {
            self.by_slot.entry(slot.clone()).or_default().insert(id.clone());
        }
        self.entries.insert(id, Entry { owner, due_ms, slot });
    }

    /// Takes the entry out (the claim); its owner, or `None` when another
    /// claim came first.
    pub fn remove(&mut self, id: &str) -> Option<OwnedUserId> {
        let entry = self.entries.remove(id)?;
        self.by_due.remove(&(entry.due_ms, id.to_owned()));
        if let Some(ids) = self.by_owner.get_mut(&entry.owner) {
            ids.remove(id);
            if ids.is_empty() {
                self.by_owner.remove(&entry.owner);
            }
        }
        if let Some(slot) = &entry.slot
            && let Some(ids) = self.by_slot.get_mut(slot)
        {
            ids.remove(id);
            if ids.is_empty() {
                self.by_slot.remove(slot);
            }
        }
        Some(entry.owner)
    }

    pub fn owner(&self, id: &str) -> Option<&OwnedUserId> {
        self.entries.get(id).map(|e| &e.owner)
    }

    /// Moves an entry's due time; false when it is not pending.
    pub fn reschedule(&mut self, id: &str, due_ms: u64) -> bool {
        let Some(entry) = self.entries.get_mut(id) else { return false };
        self.by_due.remove(&(entry.due_ms, id.to_owned()));
        entry.due_ms = due_ms;
        self.by_due.insert((due_ms, id.to_owned()));
        true
    }

    pub fn count_for(&self, owner: &OwnedUserId) -> usize {
        self.by_owner.get(owner).map_or(0, HashSet::len)
    }

    /// When the owner's earliest pending event is due.
    pub fn earliest_for(&self, owner: &OwnedUserId) -> Option<u64> {
        let ids = self.by_owner.get(owner)?;
        ids.iter().filter_map(|id| self.entries.get(id)).map(|e| e.due_ms).min()
    }

    pub fn next_due(&self) -> Option<u64> {
        self.by_due.first().map(|(due, _)| *due)
    }

    /// Claims every entry due at `now_ms`, earliest first.
    pub fn take_due(&mut self, now_ms: u64) -> Vec<String> {
        let due: Vec<String> =
            self.by_due.iter().take_while(|(at, _)| *at <= now_ms).map(|(_, id)| id.clone()).collect();
        for id in &due {
            self.remove(id);
        }
        due
    }

    /// Claims the entries that would write `slot` and belong to someone
    /// other than `writer`: that write supersedes them (MSC4140).
    pub fn take_superseded(&mut self, slot: &StateSlot, writer: &OwnedUserId) -> Vec<String> {
        let Some(ids) = self.by_slot.get(slot) else { return Vec::new() };
        let superseded: Vec<String> = ids
            .iter()
            .filter(|id| self.entries.get(id.as_str()).is_some_and(|e| &e.owner != writer))
            .cloned()
            .collect();
        for id in &superseded {
            self.remove(id);
        }
        superseded
    }

    pub fn has_slot(&self, slot: &StateSlot) -> bool {
        self.by_slot.contains_key(slot)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> OwnedUserId {
        OwnedUserId::try_from(format!("@{name}:example.org")).unwrap()
    }

    fn slot() -> StateSlot {
        (OwnedRoomId::try_from("!room:example.org").unwrap(), "m.call.member".to_owned(), "_@a:example.org".to_owned())
    }

    #[test]
    fn entries_come_due_in_order_and_once() {
        let mut pending = Pending::default();
        pending.insert("b".into(), user("a"), 20, None);
        pending.insert("a".into(), user("a"), 10, None);
        pending.insert("c".into(), user("b"), 30, None);
        assert_eq!(pending.next_due(), Some(10));
        assert_eq!(pending.take_due(20), ["a", "b"]);
        assert!(pending.take_due(20).is_empty());
        assert_eq!(pending.count_for(&user("a")), 0);
        assert_eq!(pending.len(), 1);
    }

    #[test]
    fn a_restart_moves_the_due_time() {
        let mut pending = Pending::default();
        pending.insert("a".into(), user("a"), 10, None);
        assert!(pending.reschedule("a", 50));
        assert!(pending.take_due(49).is_empty());
        assert_eq!(pending.take_due(50), ["a"]);
        assert!(!pending.reschedule("a", 60), "a claimed entry cannot be restarted");
    }

    #[test]
    fn only_someone_elses_write_supersedes() {
        let mut pending = Pending::default();
        pending.insert("mine".into(), user("a"), 10, Some(slot()));
        assert!(pending.take_superseded(&slot(), &user("a")).is_empty());
        assert_eq!(pending.take_superseded(&slot(), &user("b")), ["mine"]);
        assert!(!pending.has_slot(&slot()));
        assert_eq!(pending.next_due(), None);
    }

    #[test]
    fn the_owner_limit_counts_pending_entries() {
        let mut pending = Pending::default();
        pending.insert("a".into(), user("a"), 30, None);
        pending.insert("b".into(), user("a"), 20, None);
        assert_eq!(pending.count_for(&user("a")), 2);
        assert_eq!(pending.earliest_for(&user("a")), Some(20));
        assert_eq!(pending.remove("b"), Some(user("a")));
        assert_eq!(pending.remove("b"), None);
        assert_eq!(pending.count_for(&user("a")), 1);
    }
}
