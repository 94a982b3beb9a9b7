//! Federation destinations as a server admin sees them (Synapse's admin
//! API): every server this one sends to, with its delivery state, the
//! rooms shared with it, and cutting a backoff short.

use ruma::events::room::member::MembershipState;
use ruma::{OwnedRoomId, OwnedServerName, ServerName};

use crate::federation::destinations::Destination;
use crate::rooms::Direction;
use crate::tokens::Identity;
use crate::{Error, Result, Services};

impl Services {
    pub async fn admin_destinations(&self, caller: &Identity) -> Result<Vec<(OwnedServerName, Destination)>> {
        self.accounts.require_admin(caller).await?;
        self.destinations.all().await
    }

    pub async fn admin_destination(&self, caller: &Identity, name: &ServerName) -> Result<Destination> {
        self.accounts.require_admin(caller).await?;
        self.destinations.get(name).await?.ok_or_else(|| Error::NotFound("Unknown destination".to_owned()))
    }

    /// The rooms this server shares with `name` (where one of its users is
    /// joined), each with the newest stream ordering there. Reads every
    /// room's members: an admin's question, not a hot path.
    pub async fn admin_destination_rooms(
        &self,
        caller: &Identity,
        name: &ServerName,
    ) -> Result<Vec<(OwnedRoomId, u64)>> {
        self.admin_destination(caller, name).await?;
        let mut shared = Vec::new();
        for room in self.rooms.all_rooms().await? {
            let members = self.rooms.membership.members(&room).await?;
            if members.iter().any(|(user, m)| *m == MembershipState::Join && user.server_name() == name) {
                let newest = self.rooms.timeline.page(&room, None, Direction::Backward, 1).await?;
                shared.push((room, newest.first().map_or(0, |(ordering, _)| *ordering)));
            }
        }
        Ok(shared)
    }

    /// `reset_connection`: forget the backoff and try now.
    pub async fn admin_reset_connection(&self, caller: &Identity, name: &ServerName) -> Result<()> {
        self.accounts.require_admin(caller).await?;
        self.destinations.reset(name).await
    }
}
