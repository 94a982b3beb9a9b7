//! State resolution (ruma's v2 algorithm) over states this server holds,
//! and the auth chains it needs. Used only where a room's DAG forks, so
//! the linear case never pays for it.

use std::collections::{HashMap, HashSet};

use ruma::events::StateEventType;
use ruma::room_version_rules::RoomVersionRules;
use ruma::state_res::{self, StateMap};
use ruma::{EventId, OwnedEventId, RoomId};

use super::Rooms;
use super::pdu::Pdu;
use super::state::StateIds;
use crate::{Error, Result};

/// The events resolution may look at, loaded up front (ruma's resolution is
/// synchronous).
#[derive(Default)]
pub(super) struct EventSet {
    pub events: HashMap<OwnedEventId, Pdu>,
}

impl EventSet {
    /// The ids of `start`'s events' auth chains (not `start` itself).
    fn auth_chain(&self, start: impl IntoIterator<Item = OwnedEventId>) -> HashSet<OwnedEventId> {
        let mut chain = HashSet::new();
        let mut todo: Vec<OwnedEventId> =
            start.into_iter().filter_map(|id| self.events.get(&id)).flat_map(|p| p.auth_events.clone()).collect();
        while let Some(id) = todo.pop() {
            if chain.insert(id.clone())
                && let Some(pdu) = self.events.get(&id)
            {
                todo.extend(pdu.auth_events.iter().cloned());
            }
        }
        chain
    }
}

impl Rooms {
    /// Loads `ids` and their whole auth chains.
    pub(super) async fn load_with_auth_chains(
        &self,
        rules: &RoomVersionRules,
        ids: impl IntoIterator<Item = OwnedEventId>,
        set: &mut EventSet,
    ) -> Result<()> {
        let mut todo: Vec<OwnedEventId> = ids.into_iter().collect();
        while let Some(id) = todo.pop() {
            if set.events.contains_key(&id) {
                continue;
            }
            let Some((pdu, _)) = self.pdu(&id, rules).await? else { continue };
            todo.extend(pdu.auth_events.iter().filter(|a| !set.events.contains_key(*a)).cloned());
            set.events.insert(id, pdu);
        }
        Ok(())
    }

    /// The auth chain of `ids` as stored events' ids (for `/event_auth`,
    /// `/state` and `send_join`).
    pub(super) async fn auth_chain_ids(
        &self,
        rules: &RoomVersionRules,
        ids: impl IntoIterator<Item = OwnedEventId>,
    ) -> Result<Vec<OwnedEventId>> {
        let ids: Vec<OwnedEventId> = ids.into_iter().collect();
        let mut set = EventSet::default();
        self.load_with_auth_chains(rules, ids.iter().cloned(), &mut set).await?;
        let mut chain: Vec<OwnedEventId> = set.auth_chain(ids).into_iter().collect();
        chain.sort_by_key(|id| set.events.get(id).map(|p| p.depth).unwrap_or_default());
        Ok(chain)
    }

    /// Resolves several states of a room into one. `pending` are events
    /// the states name that are not stored yet (the one being placed).
    pub(super) async fn resolve_states(
        &self,
        room_id: &RoomId,
        rules: &RoomVersionRules,
        states: &[StateIds],
        pending: &[&Pdu],
    ) -> Result<StateIds> {
        if states.len() == 1 {
            return Ok(states[0].clone());
        }
        if states.windows(2).all(|w| w[0] == w[1]) {
            return Ok(states[0].clone());
        }
        let v2 = rules
            .state_res
            .v2_rules()
            .ok_or_else(|| Error::Internal(format!("{room_id}: room version 1 state resolution is not supported")))?;
        let mut set = EventSet::default();
        for pdu in pending {
            set.events.insert(pdu.event_id.clone(), (*pdu).clone());
            self.load_with_auth_chains(rules, pdu.auth_events.iter().cloned(), &mut set).await?;
        }
        for state in states {
            self.load_with_auth_chains(rules, state.values().cloned(), &mut set).await?;
        }
        let maps: Vec<StateMap<OwnedEventId>> = states
            .iter()
            .map(|state| {
                state
                    .iter()
                    .map(|((kind, key), id)| ((StateEventType::from(kind.as_str()), key.clone()), id.clone()))
                    .collect()
            })
            .collect();
        let auth_chains =
            states.iter().map(|state| set.auth_chain(state.values().cloned()).into_iter().collect()).collect();
        let events = &set.events;
        let resolved = state_res::resolve(
            &rules.authorization,
            v2,
            maps.iter(),
            auth_chains,
            |id: &EventId| events.get(id).cloned(),
            |conflicted| Some(conflicted_subgraph(events, conflicted.values().flatten()).into_iter().collect()),
        )
        .map_err(|e| Error::Internal(format!("{room_id}: state resolution failed: {e}")))?;
        Ok(resolved.into_iter().map(|((kind, key), id)| ((kind.to_string(), key), id)).collect())
    }
}

/// Room version 12's conflicted state subgraph: every event on an auth
/// path from one conflicted event to another (both ends included).
fn conflicted_subgraph<'a>(
    events: &HashMap<OwnedEventId, Pdu>,
    conflicted: impl Iterator<Item = &'a OwnedEventId>,
) -> HashSet<OwnedEventId> {
    let conflicted: HashSet<OwnedEventId> = conflicted.cloned().collect();
    // Whether an event reaches a conflicted event through auth events.
    let mut reaches: HashMap<OwnedEventId, bool> = HashMap::new();
    fn walk(
        id: &OwnedEventId,
        events: &HashMap<OwnedEventId, Pdu>,
        conflicted: &HashSet<OwnedEventId>,
        reaches: &mut HashMap<OwnedEventId, bool>,
    ) -> bool {
        if let Some(known) = reaches.get(id) {
            return *known;
        }
        // Cycles cannot occur in an auth DAG; mark first to be safe anyway.
        reaches.insert(id.clone(), false);
        let mut found = false;
        if let Some(pdu) = events.get(id) {
            for parent in &pdu.auth_events {
                if conflicted.contains(parent) | walk(parent, events, conflicted, reaches) {
                    found = true;
                }
            }
        }
        reaches.insert(id.clone(), found);
        found
    }
    let mut subgraph = conflicted.clone();
    // Ancestors (through auth events) of conflicted events that themselves
    // descend from a conflicted event.
    let mut todo: Vec<OwnedEventId> = conflicted.iter().cloned().collect();
    let mut seen = HashSet::new();
    while let Some(id) = todo.pop() {
        let Some(pdu) = events.get(&id) else { continue };
        for parent in &pdu.auth_events {
            if seen.insert(parent.clone()) {
                if walk(parent, events, &conflicted, &mut reaches) {
                    subgraph.insert(parent.clone());
                }
                todo.push(parent.clone());
            }
        }
    }
    subgraph
}
