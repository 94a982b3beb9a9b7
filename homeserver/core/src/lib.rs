//! Nexus services. Each module owns one concern and the maps the catalog
//! assigns to it. Nothing here knows about HTTP: handlers in `nexus-api`
//! parse requests, call one service method, and render its result.

pub mod account_data;
pub mod accounts;
pub mod admin_federation;
pub mod admin_media;
pub mod admin_rooms;
pub mod admin_users;
pub mod appservice;
pub mod changes;
pub mod delayed_events;
pub mod devices;
pub mod e2ee;
pub mod error;
pub mod export;
pub mod federation;
pub mod filters;
pub mod guilds;
pub mod leadership;
pub mod login_tokens;
pub mod matrix_rtc;
pub mod media;
pub mod member_profiles;
pub mod message_limits;
pub mod metric_names;
pub mod moderation;
pub mod openid;
pub mod outbound;
pub mod presence;
pub mod profiles;
pub mod push;
mod push_rules;
pub mod pushers;
pub mod rate_limits;
pub mod read_markers;
pub mod receipts;
pub mod reports;
pub mod room_deletion;
pub mod rooms;
pub mod search;
pub mod server_keys;
mod server_notices;
pub mod settings;
pub mod sliding_sync;
pub mod stream;
pub mod sync;
#[cfg(test)]
mod testing;
pub mod tokens;
pub mod typing;
pub mod typing_relay;
pub mod uia;
pub mod user_redaction;
mod values;
pub mod voip;

use std::sync::Arc;

use nexus_storage::Store;
use ruma::{OwnedServerName, ServerName};

pub use error::{Error, Result};
pub use settings::Settings;

/// Every service, wired together once at start-up.
pub struct Services {
    pub settings: Settings,
    pub accounts: accounts::Accounts,
    pub devices: Arc<devices::Devices>,
    pub tokens: Arc<tokens::Tokens>,
    pub profiles: Arc<profiles::Profiles>,
    pub member_profiles: Arc<member_profiles::MemberProfiles>,
    pub rate_limits: rate_limits::RateLimits,
    pub message_limits: message_limits::MessageLimits,
    pub moderation: Arc<moderation::Moderation>,
    pub server_keys: Arc<server_keys::ServerKeys>,
    pub rooms: Arc<rooms::Rooms>,
    pub guilds: Arc<guilds::Guilds>,
    pub delayed_events: Arc<delayed_events::DelayedEvents>,
    pub matrix_rtc: matrix_rtc::MatrixRtc,
    pub notification_levels: guilds::notification_levels::NotificationLevels,
    pub emoji: guilds::emoji::Emoji,
    pub hierarchy: rooms::hierarchy::Hierarchy,
    pub typing: Arc<typing::Typing>,
    pub receipts: Arc<receipts::Receipts>,
    pub account_data: Arc<account_data::AccountData>,
    pub filters: filters::Filters,
    pub sync: sync::Sync,
    pub sliding_sync: sliding_sync::SlidingSync,
    pub read_markers: read_markers::ReadMarkers,
    pub push: Arc<push::Push>,
    pub presence: Arc<presence::Presence>,
    pub e2ee: Arc<e2ee::E2ee>,
    pub media: media::Media,
    pub federation: Arc<federation::Federation>,
    pub openid: Arc<openid::OpenId>,
    sender: Arc<federation::sender::Sender>,
    pub destinations: Arc<federation::destinations::Destinations>,
    pub pushers: Arc<pushers::Pushers>,
    deliveries: std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<pushers::Delivery>>>,
    changes: Arc<changes::Changes>,
    pub reports: reports::Reports,
    pub voip: voip::Voip,
    pub appservices: Arc<appservice::Appservices>,
    pub search: Arc<search::Search>,
    leadership: Arc<leadership::Leadership>,
    store: Arc<dyn Store>,
}

impl Services {
    /// The store's own figures, for the metrics endpoint.
    pub fn store_statistics(&self) -> Vec<(&'static str, f64)> {
        self.store.statistics()
    }

    pub async fn start(settings: Settings, store: Arc<dyn Store>) -> Result<Arc<Self>> {
        let server_name: OwnedServerName = settings.server.server_name.clone();
        let tokens = Arc::new(tokens::Tokens::new(store.clone(), server_name.clone(), settings.auth.clone()));
        let devices = Arc::new(devices::Devices::new(store.clone(), tokens.clone()));
        let profiles = Arc::new(profiles::Profiles::new(store.clone(), server_name.clone()));
        let moderation = Arc::new(moderation::Moderation::new(store.clone(), server_name.clone()));
        let uia = uia::Uia::new(store.clone(), settings.auth.uia_session_lifetime());
        let server_keys = Arc::new(server_keys::ServerKeys::load_or_generate(store.as_ref()).await?);
        let rate_limits = rate_limits::RateLimits::new(&settings.rate_limits);
        let message_limits = message_limits::MessageLimits::new(
            store.clone(),
            settings.rate_limits.message_per_second,
            settings.rate_limits.message_burst,
        );
        let stream = match &settings.redis.url {
            Some(url) => stream::Stream::start_clustered(store.clone(), url).await?,
            None => stream::Stream::start(store.clone()).await?,
        };
        let changes = Arc::new(changes::Changes::new(store.clone(), stream.clone()));
        let account_data = Arc::new(account_data::AccountData::new(store.clone(), stream.clone(), changes.clone()));
        let push = Arc::new(push::Push::new(store.clone(), account_data.clone(), profiles.clone()));
        let (pushers, deliveries) =
            pushers::Pushers::new(store.clone(), outbound::AddressPolicy::from_settings(&settings.outbound));
        let pushers = Arc::new(pushers);
        let federation_client = Arc::new(federation::client::FederationClient::new(
            server_name.clone(),
            server_keys.clone(),
            &settings.federation,
            outbound::AddressPolicy::from_settings(&settings.outbound),
        )?);
        let remote_keys =
            Arc::new(federation::keys::RemoteKeys::new(store.clone(), federation_client.clone(), server_keys.clone()));
        let outbox = Arc::new(federation::outbox::Outbox::new(store.clone(), stream.clone()));
        let destinations = Arc::new(federation::destinations::Destinations::new(store.clone()));
        let sender = Arc::new(federation::sender::Sender::new(
            outbox.clone(),
            federation_client.clone(),
            std::time::Duration::from_secs(settings.federation.max_retry_interval_secs.max(1)),
            destinations.clone(),
        ));
        let rooms = Arc::new(rooms::Rooms::new(
            store.clone(),
            settings.server.server_name.clone(),
            server_keys.clone(),
            profiles.clone(),
            stream.clone(),
            changes.clone(),
            push.clone(),
            pushers.clone(),
            account_data.clone(),
            (federation_client.clone(), remote_keys.clone(), outbox.clone()),
            settings.e2ee.encrypt_direct_messages,
            moderation.clone(),
        ));
        let appservices = Arc::new(
            appservice::Appservices::load(
                store.clone(),
                server_name.clone(),
                settings.appservice.registration_files.clone(),
            )
            .map_err(|e| Error::BadRequest(e.to_string()))?,
        );
        rooms.set_appservices(appservices.clone());
        let guilds = guilds::Guilds::new(store.clone(), rooms.clone(), profiles.clone(), settings.guilds.clone());
        let delayed_events =
            delayed_events::DelayedEvents::start(store.clone(), rooms.clone(), settings.delayed_events.clone()).await?;
        let notification_levels = guilds::notification_levels::NotificationLevels::new(
            store.clone(),
            guilds.clone(),
            rooms.clone(),
            push.clone(),
        );
        let emoji = guilds::emoji::Emoji::new(guilds.clone(), rooms.clone(), account_data.clone());
        let e2ee = Arc::new(e2ee::E2ee {
            keys: e2ee::keys::Keys::new(
                store.clone(),
                server_name.clone(),
                stream.clone(),
                changes.clone(),
                rooms.clone(),
                devices.clone(),
                outbox.clone(),
            ),
            to_device: e2ee::to_device::ToDevice::new(
                store.clone(),
                server_name.clone(),
                stream.clone(),
                changes.clone(),
                devices.clone(),
                outbox.clone(),
            ),
            backup: e2ee::backup::KeyBackup::new(store.clone()),
        });
        e2ee.to_device.set_appservices(appservices.clone());
        e2ee.keys.set_appservices(appservices.clone());
        appservices.set_key_sources(devices.clone(), e2ee.clone());
        appservices.set_stream(stream.clone());
        let accounts = accounts::Accounts::new(
            store.clone(),
            server_name,
            settings.registration.clone(),
            uia,
            devices.clone(),
            tokens.clone(),
            profiles.clone(),
            e2ee.clone(),
            moderation.clone(),
        );
        let typing = Arc::new(typing::Typing::default());
        if let (Some(url), Some(cluster)) = (&settings.redis.url, store.cluster()) {
            typing.set_relay(typing_relay::TypingRelay::connect(url, cluster.instance()).await?);
        }
        let receipts = Arc::new(receipts::Receipts::new(store.clone(), stream.clone(), changes.clone()));
        let filters = filters::Filters::new(store.clone());
        let read_markers = read_markers::ReadMarkers::new(
            rooms.clone(),
            receipts.clone(),
            account_data.clone(),
            push.clone(),
            outbox.clone(),
            appservices.clone(),
        );
        let presence = Arc::new(presence::Presence::new(
            store.clone(),
            stream.clone(),
            changes.clone(),
            rooms.clone(),
            settings.presence.clone(),
            outbox.clone(),
        ));
        presence.set_appservices(appservices.clone());
        if let Some(url) = &settings.redis.url {
            // Ephemeral state every process of the cluster shares.
            let keys = nexus_storage::redis_channel::RedisKeys::connect(url).await?;
            presence.share_activity(keys.clone());
            rate_limits.share(keys.clone());
            message_limits.share(keys.clone());
            delayed_events.share_limits(keys);
        }
        let federation = Arc::new(federation::Federation::new(federation::Parts {
            client: federation_client,
            keys: remote_keys,
            outbox: outbox.clone(),
            rooms: rooms.clone(),
            typing: typing.clone(),
            receipts: receipts.clone(),
            changes: changes.clone(),
            e2ee: e2ee.clone(),
            profiles: profiles.clone(),
            presence: presence.clone(),
        }));
        let sliding_sync = sliding_sync::SlidingSync::new(
            store.clone(),
            sliding_sync::Parts {
                rooms: rooms.clone(),
                changes: changes.clone(),
                stream: stream.clone(),
                typing: typing.clone(),
                receipts: receipts.clone(),
                account_data: account_data.clone(),
                push: push.clone(),
                e2ee: e2ee.clone(),
            },
            std::time::Duration::from_secs(settings.sliding_sync.connection_idle_secs),
        );
        let sync = sync::Sync::new(
            rooms.clone(),
            changes.clone(),
            stream.clone(),
            typing.clone(),
            receipts.clone(),
            account_data.clone(),
            push.clone(),
            presence.clone(),
            e2ee.clone(),
        );
        let reports = reports::Reports::new(store.clone());
        let voip = voip::Voip::new(settings.turn.clone());
        let member_profiles = Arc::new(member_profiles::MemberProfiles::new(
            store.clone(),
            profiles.clone(),
            rooms.clone(),
            moderation.clone(),
            std::time::Duration::from_millis(settings.profiles.member_update_inline_ms),
        ));
        let openid = Arc::new(openid::OpenId::new(store.clone()));
        let matrix_rtc = matrix_rtc::MatrixRtc::new(
            settings.matrix_rtc.clone(),
            matrix_rtc::Parts {
                server_name: settings.server.server_name.clone(),
                store: store.clone(),
                client_base_url: settings.server.client_base_url(),
                openid: openid.clone(),
                rooms: rooms.clone(),
                guilds: guilds.clone(),
                federation: federation.client.clone(),
                delayed_events: delayed_events.clone(),
            },
        );
        let media_dir = settings.media.path.clone().unwrap_or_else(|| std::path::PathBuf::from("./nexus-data/media"));
        let media = media::Media::new(
            store.clone(),
            settings.server.server_name.clone(),
            media_dir,
            settings.media.clone(),
            Some(federation.client.clone()),
        )?;
        let search = search::Search::open(
            &settings.search,
            store.clone(),
            rooms.clone(),
            stream,
            account_data.clone(),
            settings.server.server_name.clone(),
        )?;
        let services = Arc::new(Services {
            settings,
            accounts,
            devices,
            tokens,
            profiles,
            member_profiles,
            rate_limits,
            message_limits,
            moderation,
            server_keys,
            hierarchy: rooms::hierarchy::Hierarchy::new(rooms.clone()),
            rooms,
            guilds,
            delayed_events,
            matrix_rtc,
            notification_levels,
            emoji,
            typing,
            receipts,
            account_data,
            filters,
            sync,
            sliding_sync,
            read_markers,
            push,
            presence,
            e2ee,
            media,
            federation,
            openid,
            sender,
            destinations,
            pushers,
            deliveries: std::sync::Mutex::new(Some(deliveries)),
            changes,
            reports,
            voip,
            appservices,
            search,
            leadership: Arc::new(leadership::Leadership::new(store.clone())),
            store,
        });
        services.register_appservice_senders().await?;
        Ok(services)
    }

    pub fn server_name(&self) -> &ServerName {
        &self.settings.server.server_name
    }

    /// Sets or clears a user's typing in a room and wakes the room's
    /// members' syncs.
    pub async fn set_typing(
        &self,
        room_id: &ruma::RoomId,
        user: &ruma::UserId,
        typing: Option<std::time::Duration>,
    ) -> Result<()> {
        if !self.rooms.membership.is_joined(room_id, user).await? {
            return Err(Error::Forbidden("you are not in this room".to_owned()));
        }
        if self.typing.set(room_id, user, typing) {
            self.wake_room(room_id).await?;
            // In a cluster the leader's senders carry typing to other
            // servers: it sends the EDU when it hears the change.
            if self.typing.relay().is_none() || self.leadership.leading() {
                self.federation.send_typing(room_id, user, typing).await?;
            }
            self.typing_to_appservices(room_id).await?;
        }
        Ok(())
    }

    /// Applies the typing changes other processes of the cluster announce.
    async fn follow_typing(self: Arc<Self>, mut changes: tokio::sync::mpsc::Receiver<typing_relay::TypingChange>) {
        while let Some(change) = changes.recv().await {
            if !self.typing.apply(&change.room_id, &change.user_id, change.timeout()) {
                continue;
            }
            if let Err(e) = self.wake_room(&change.room_id).await {
                tracing::warn!(room_id = %change.room_id, error = %e, "could not wake a room's members");
            }
            if self.leadership.leading()
                && change.user_id.server_name() == self.server_name()
                && let Err(e) = self.federation.send_typing(&change.room_id, &change.user_id, change.timeout()).await
            {
                tracing::warn!(error = %e, "could not send a typing notification to other servers");
            }
        }
    }

    /// The room's typing users, for the appservices in it (MSC2409).
    async fn typing_to_appservices(&self, room_id: &ruma::RoomId) -> Result<()> {
        if self.appservices.registry().iter().all(|r| !r.receive_ephemeral) {
            return Ok(());
        }
        let members = self.rooms.membership.members(room_id).await?;
        let joined: Vec<ruma::OwnedUserId> = members
            .into_iter()
            .filter(|(u, m)| {
                *m == ruma::events::room::member::MembershipState::Join && u.server_name() == self.server_name()
            })
            .map(|(u, _)| u)
            .collect();
        let edu = serde_json::json!({
            "type": "m.typing",
            "room_id": room_id,
            "content": { "user_ids": self.typing.typing_in(room_id) },
        });
        self.appservices.room_ephemeral(room_id, &joined, &[], edu).await
    }

    /// Starts what one process of a cluster runs (every process when
    /// alone): the senders, the Nexus server timers, the resumable jobs.
    async fn lead(self: Arc<Self>) {
        tokio::spawn(self.sender.clone().run());
        tokio::spawn(self.guilds.clone().run());
        self.appservices.run();
        if let Err(e) = self.member_profiles.resume_all().await {
            tracing::warn!(error = %e, "could not resume member profile updates");
        }
        let media = self.clone();
        tokio::spawn(async move {
            if let Err(e) = media.media.backfill_indexes().await {
                tracing::warn!(error = %e, "could not index stored media");
            }
        });
        if let Err(e) = self.upkeep_exports(true).await {
            tracing::warn!(error = %e, "could not resume personal data exports");
        }
        if let Err(e) = self.resume_user_redactions().await {
            tracing::warn!(error = %e, "could not resume user redactions");
        }
        if let Err(e) = self.resume_room_deletions().await {
            tracing::warn!(error = %e, "could not resume room deletions");
        }
    }

    /// The leader's share of the one-second upkeep tick.
    async fn lead_tick(self: &Arc<Self>, ticks: u64) {
        if ticks.is_multiple_of(60)
            && let Err(e) = self.upkeep_exports(false).await
        {
            tracing::warn!(error = %e, "could not delete expired exports");
        }
        if ticks.is_multiple_of(3600)
            && let Err(e) = self.sliding_sync.expire().await
        {
            tracing::warn!(error = %e, "sliding sync connection expiry failed");
        }
        if let Err(e) = self.notification_levels.upkeep().await {
            tracing::warn!(error = %e, "could not re-express notification levels");
        }
    }

    async fn wake_room(&self, room_id: &ruma::RoomId) -> Result<()> {
        let members = self.rooms.membership.members(room_id).await?;
        let joined = members.iter().filter(|(_, m)| *m == ruma::events::room::member::MembershipState::Join);
        self.changes.wake(joined.map(|(u, _)| u.as_ref()));
        Ok(())
    }

    /// Background upkeep: delivers pushes, keeps the search index, expires
    /// typing notifications (waking the rooms' members) — in every process
    /// — and, in the process that leads (see [`leadership`]), the senders,
    /// timers and resumable jobs. Runs until the process ends.
    pub async fn run_upkeep(self: Arc<Self>) {
        let deliveries = self.deliveries.lock().expect("deliveries poisoned").take();
        if let Some(deliveries) = deliveries {
            // Each process delivers the pushes of the events it wrote, and
            // keeps its own search index.
            tokio::spawn(self.pushers.clone().deliver_forever(self.push.clone(), deliveries));
            tokio::spawn(self.search.clone().run());
            // Each process completes the partial-state rooms it joins; the
            // first to run resumes those left from before a restart.
            tokio::spawn(self.rooms.clone().run_resyncs());
            if let Some(relay) = self.typing.relay() {
                tokio::spawn(self.clone().follow_typing(relay.listen()));
            }
            let this = self.clone();
            tokio::spawn(async move {
                this.leadership.elected().await;
                this.lead().await;
            });
            // Delayed events are timed in the process that scheduled them
            // (or, in a cluster, last restarted them); firing one twice is
            // harmless, each send carries the same transaction id.
            tokio::spawn(self.delayed_events.clone().run());
        }
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        let mut ticks: u64 = 0;
        loop {
            tick.tick().await;
            ticks += 1;
            if ticks.is_multiple_of(30)
                && let Err(e) = self.presence.expire().await
            {
                tracing::warn!(error = %e, "presence expiry failed");
            }
            if self.leadership.leading() {
                self.lead_tick(ticks).await;
            }
            for room_id in self.typing.expire() {
                if let Err(e) = self.wake_room(&room_id).await {
                    tracing::warn!(%room_id, error = %e, "could not wake a room's members");
                }
            }
        }
    }

    /// Makes every acknowledged write durable; called once at shutdown.
    pub async fn shutdown(&self) -> Result<()> {
        Ok(self.store.close().await?)
    }
}
