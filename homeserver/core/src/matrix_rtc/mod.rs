//! MatrixRTC (MSC4143, MSC4195): where a client finds the media server for
//! a call, and the built-in LiveKit token service it gets its access token
//! from — what element-hq/lk-jwt-service does as a separate program, here
//! with the homeserver's own knowledge of who is in which room.
//!
//! The transports come from `[matrix_rtc]`: an explicit
//! `livekit_service_url`, or this server's own token service when a LiveKit
//! server (`livekit_url`, API key and secret) is configured. They are
//! offered at `/rtc/transports` and, for older clients, as `rtc_foci` in
//! `/.well-known/matrix/client`.

pub mod delegation;
pub mod livekit;
pub mod voice;

use std::sync::Arc;

use nexus_storage::Store;
use ruma::{OwnedUserId, RoomId, ServerName, UserId};
use serde_json::{Value, json};

use self::livekit::{ApiKey, Grant};
use crate::delayed_events::{DelayedEvents, Manager};
use crate::federation::client::FederationClient;
use crate::guilds::Guilds;
use crate::openid::OpenId;
use crate::rooms::Rooms;
use crate::settings::MatrixRtcSettings;
use crate::values::now_ms;
use crate::{Error, Result};

/// The OpenID token a client got from its homeserver (`/openid/request_token`).
pub struct OpenIdToken {
    pub access_token: String,
    pub matrix_server_name: String,
}

/// What the client asks a token for.
pub enum TokenRequest {
    /// `/sfu/get`: the room and the caller's device.
    Legacy { room: String, device_id: String },
    /// `/get_token` (MSC4195): a slot of a room and the caller's
    /// MatrixRTC membership.
    Member { room_id: String, slot_id: String, member_id: String, claimed_user_id: String, claimed_device_id: String },
}

/// A LiveKit server's address and a token for it.
pub struct JoinToken {
    pub url: String,
    pub jwt: String,
}

/// The LiveKit server this homeserver issues tokens for.
struct LiveKitServer {
    /// As clients connect to it.
    url: String,
    /// Where its server API is reached from here.
    api_url: String,
    key: ApiKey,
}

pub struct MatrixRtc {
    settings: MatrixRtcSettings,
    /// The transport offered when no explicit service URL is configured.
    own_service_url: Option<String>,
    livekit: Option<LiveKitServer>,
    server_name: ruma::OwnedServerName,
    /// Owns `voice_moderation` (`voice`).
    store: Arc<dyn Store>,
    openid: Arc<OpenId>,
    rooms: Arc<Rooms>,
    guilds: Arc<Guilds>,
    federation: Arc<FederationClient>,
    delayed_events: Arc<DelayedEvents>,
    watches: delegation::Watches,
    http: reqwest::Client,
}

/// Everything the service asks other services.
pub struct Parts {
    pub server_name: ruma::OwnedServerName,
    pub store: Arc<dyn Store>,
    pub client_base_url: String,
    pub openid: Arc<OpenId>,
    pub rooms: Arc<Rooms>,
    pub guilds: Arc<Guilds>,
    pub federation: Arc<FederationClient>,
    pub delayed_events: Arc<DelayedEvents>,
}

fn unauthorised() -> Error {
    Error::Unauthorized("The request could not be authorised.".to_owned())
}

impl MatrixRtc {
    pub fn new(settings: MatrixRtcSettings, parts: Parts) -> Self {
        let livekit = match (&settings.livekit_url, &settings.livekit_api_key, &settings.livekit_api_secret) {
            (Some(url), Some(key), Some(secret)) => Some(LiveKitServer {
                url: url.clone(),
                api_url: settings.livekit_api_url.clone().unwrap_or_else(|| livekit::http_base(url)),
                key: ApiKey { key: key.clone(), secret: secret.clone() },
            }),
            _ => None,
        };
        let own_service_url = livekit
            .as_ref()
            .map(|_| format!("{}{}", parts.client_base_url.trim_end_matches('/'), settings.token_service_path));
        MatrixRtc {
            settings,
            own_service_url,
            livekit,
            server_name: parts.server_name,
            store: parts.store,
            openid: parts.openid,
            rooms: parts.rooms,
            guilds: parts.guilds,
            federation: parts.federation,
            delayed_events: parts.delayed_events,
            watches: delegation::Watches::default(),
            http: reqwest::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()
                .expect("an HTTP client with a timeout builds"),
        }
    }

    /// The configured transports, most preferred first; empty when none is
    /// configured (the client then has no server-offered media server).
    pub fn transports(&self) -> Vec<Value> {
        let url = self.settings.livekit_service_url.as_ref().or(self.own_service_url.as_ref());
        url.map(|url| json!({ "type": "livekit", "livekit_service_url": url })).into_iter().collect()
    }

    /// Where the built-in token service is served, when it is.
    pub fn token_service_path(&self) -> Option<&str> {
        self.livekit.as_ref().map(|_| self.settings.token_service_path.as_str())
    }

    /// A LiveKit join token for the holder of `openid`, who must be joined
    /// to the room (and, in a Nexus channel, have CONNECT).
    pub async fn join_token(&self, openid: &OpenIdToken, request: TokenRequest) -> Result<JoinToken> {
        let livekit =
            self.livekit.as_ref().ok_or_else(|| Error::NotFound("no LiveKit server is configured".to_owned()))?;
        if openid.access_token.is_empty() || openid.matrix_server_name.is_empty() {
            return Err(Error::BadJson("openid_token needs access_token and matrix_server_name".to_owned()));
        }
        let user = self.verify_openid(openid).await?;
        let (room, alias, identity) = match &request {
            TokenRequest::Legacy { room, device_id } => {
                (room, livekit::room_alias(room, "m.call#ROOM"), livekit::legacy_identity(user.as_str(), device_id))
            }
            TokenRequest::Member { room_id, slot_id, member_id, claimed_user_id, claimed_device_id } => {
                if claimed_user_id != user.as_str() {
                    return Err(unauthorised());
                }
                let identity = livekit::identity(user.as_str(), claimed_device_id, member_id);
                (room_id, livekit::room_alias(room_id, slot_id), identity)
            }
        };
        let room_id = <&RoomId>::try_from(room.as_str()).map_err(|e| Error::BadJson(format!("room: {e}")))?;
        self.check_may_connect(room_id, &user).await?;
        // A server-muted member may listen, a deafened one may not.
        let moderation = self.moderation(room_id, &user).await?;
        let now_secs = now_ms() / 1000;
        if self.has_full_access(user.server_name()) {
            livekit::create_room(&self.http, &livekit.api_url, &livekit.key, &alias, now_secs).await.map_err(|e| {
                tracing::warn!(error = %e, "could not create a room on the LiveKit server");
                Error::Remote("Unable to create room on SFU".to_owned())
            })?;
        }
        let grant = Grant {
            room: &alias,
            identity: &identity,
            user_id: user.as_str(),
            can_publish: !moderation.mute,
            can_subscribe: !moderation.deaf,
            room_create: false,
        };
        let jwt = livekit::access_token(&livekit.key, &grant, now_secs, livekit::JOIN_TOKEN_SECS);
        Ok(JoinToken { url: livekit.url.clone(), jwt })
    }

    /// `/delegate_delayed_leave`: this server keeps the caller's delayed
    /// leave from firing while they are in the LiveKit room, and sends it
    /// when they are gone (`delegation`). For users of this server, whose
    /// delayed event is here.
    pub async fn delegate_delayed_leave(
        &self,
        openid: &OpenIdToken,
        member: TokenRequest,
        delay_id: &str,
        delay: std::time::Duration,
    ) -> Result<()> {
        let livekit =
            self.livekit.as_ref().ok_or_else(|| Error::NotFound("no LiveKit server is configured".to_owned()))?;
        let user = self.verify_openid(openid).await?;
        let TokenRequest::Member { room_id, slot_id, member_id, claimed_user_id, claimed_device_id } = member else {
            return Err(Error::BadJson("room_id, slot_id and member are needed".to_owned()));
        };
        if claimed_user_id != user.as_str() {
            return Err(unauthorised());
        }
        if user.server_name() != self.server_name {
            return Err(Error::Forbidden("delegation of delayed events is only for users of this server".to_owned()));
        }
        if delay.is_zero() {
            return Err(Error::BadJson("delay_timeout must be positive".to_owned()));
        }
        let delegation = delegation::Delegation {
            delay_id: delay_id.to_owned(),
            delay,
            room_alias: livekit::room_alias(&room_id, &slot_id),
            identity: livekit::identity(user.as_str(), &claimed_device_id, &member_id),
            owner: user,
        };
        // The delayed event must exist and be the caller's: restarting it
        // proves both (and starts the first interval afresh).
        let owner = Manager::OnBehalfOf(&delegation.owner);
        self.delayed_events.act(owner, delay_id, crate::delayed_events::Action::Restart).await?;
        let key = livekit.key.clone();
        self.watches.start(delegation, self.delayed_events.clone(), self.http.clone(), livekit.api_url.clone(), key);
        Ok(())
    }

    /// The user an OpenID token names: this server's own tokens directly,
    /// another server's through its `/openid/userinfo`, which may only
    /// vouch for its own users.
    async fn verify_openid(&self, openid: &OpenIdToken) -> Result<OwnedUserId> {
        let server = <&ServerName>::try_from(openid.matrix_server_name.as_str()).map_err(|_| unauthorised())?;
        if server == self.server_name {
            return self.openid.user_of(&openid.access_token).await.map_err(|_| unauthorised());
        }
        let token: String = form_urlencoded::byte_serialize(openid.access_token.as_bytes()).collect();
        let path = format!("/_matrix/federation/v1/openid/userinfo?access_token={token}");
        let answer = self.federation.get_unsigned(server, &path).await.map_err(|e| {
            tracing::info!(%server, error = %e, "an OpenID token could not be checked");
            unauthorised()
        })?;
        let user = answer.get("sub").and_then(Value::as_str).and_then(|s| OwnedUserId::try_from(s).ok());
        match user {
            Some(user) if user.server_name() == server => Ok(user),
            _ => Err(unauthorised()),
        }
    }

    /// A call in a room is for its joined members; in a Nexus channel, for
    /// those with CONNECT, and (unless they have MOVE_MEMBERS) only while
    /// the call has room under the channel's `user_limit`.
    async fn check_may_connect(&self, room_id: &RoomId, user: &UserId) -> Result<()> {
        use nexus_extensions::Permissions;
        if !self.rooms.membership.is_joined(room_id, user).await? {
            return Err(Error::Forbidden("you are not joined to this room".to_owned()));
        }
        let Some((scope, permissions)) = self.guilds.permissions(user, room_id).await? else { return Ok(()) };
        let Some(channel) = &scope.channel else { return Ok(()) };
        if !permissions.contains(Permissions::CONNECT) {
            return Err(Error::Forbidden("CONNECT is needed to join this channel's call".to_owned()));
        }
        let limit = channel.content.as_ref().map_or(0, |c| c.user_limit) as usize;
        if limit > 0 && !permissions.contains(Permissions::MOVE_MEMBERS) {
            let others = self.call_members(room_id).await?.into_iter().filter(|m| m != user).count();
            if others >= limit {
                return Err(Error::Forbidden(format!("this channel's call is full ({limit} members)")));
            }
        }
        Ok(())
    }

    /// Who is in the room's call now (see `voice`).
    async fn call_members(&self, room_id: &RoomId) -> Result<std::collections::HashSet<OwnedUserId>> {
        Ok(self.call_memberships(room_id).await?.into_iter().map(|(sender, _, _)| sender).collect())
    }

    /// Users of this server and of the configured full-access servers may
    /// have rooms created on the LiveKit server; others only join rooms
    /// that exist.
    fn has_full_access(&self, server: &ServerName) -> bool {
        server == self.server_name || self.settings.full_access_servers.iter().any(|s| s == "*" || s == server.as_str())
    }
}
