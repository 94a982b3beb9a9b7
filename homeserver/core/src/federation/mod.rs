//! Federation: this server's side of the server-server API. Requests are
//! authenticated with X-Matrix signatures checked against the origin's
//! keys ([`keys`]); outbound requests are signed and sent by [`client`];
//! what must reach other servers waits durably in the [`outbox`] until the
//! [`sender`] delivers it; [`receiver`] takes transactions in. Room logic
//! (checking, placing and serving events) lives with the rooms.

pub mod client;
pub mod destinations;
pub mod discovery;
mod e2ee;
pub mod keys;
pub mod outbox;
mod queries;
mod receiver;
pub mod sender;

use std::sync::Arc;

use ruma::api::federation::authentication::XMatrix;
use ruma::{OwnedServerName, ServerName};

use crate::changes::Changes;
use crate::e2ee::E2ee;
use crate::presence::Presence;
use crate::profiles::Profiles;
use crate::receipts::Receipts;
use crate::rooms::Rooms;
use crate::typing::Typing;
use crate::{Error, Result};

/// The services federation works with, for [`Federation::new`].
pub struct Parts {
    pub client: Arc<client::FederationClient>,
    pub keys: Arc<keys::RemoteKeys>,
    pub outbox: Arc<outbox::Outbox>,
    pub rooms: Arc<Rooms>,
    pub typing: Arc<Typing>,
    pub receipts: Arc<Receipts>,
    pub changes: Arc<Changes>,
    pub e2ee: Arc<E2ee>,
    pub profiles: Arc<Profiles>,
    pub presence: Arc<Presence>,
}

pub struct Federation {
    pub client: Arc<client::FederationClient>,
    pub keys: Arc<keys::RemoteKeys>,
    pub outbox: Arc<outbox::Outbox>,
    rooms: Arc<Rooms>,
    typing: Arc<Typing>,
    receipts: Arc<Receipts>,
    changes: Arc<Changes>,
    e2ee: Arc<E2ee>,
    profiles: Arc<Profiles>,
    presence: Arc<Presence>,
    server_name: OwnedServerName,
}

/// A request as X-Matrix signs it.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// Path and query, exactly as sent.
    pub uri: &'a str,
    pub authorization: Option<&'a str>,
    pub body: &'a [u8],
}

impl Federation {
    pub fn new(parts: Parts) -> Self {
        let server_name = parts.client.server_name().to_owned();
        let Parts { client, keys, outbox, rooms, typing, receipts, changes, e2ee, profiles, presence } = parts;
        Federation { client, keys, outbox, rooms, typing, receipts, changes, e2ee, profiles, presence, server_name }
    }

    /// The requesting server, when the request carries its valid X-Matrix
    /// signature addressed to this server (spec: "Request Authentication").
    pub async fn authenticate(&self, request: SignedRequest<'_>) -> Result<OwnedServerName> {
        let header = request
            .authorization
            .ok_or_else(|| Error::Unauthorized("this endpoint needs X-Matrix authentication".to_owned()))?;
        let xmatrix = XMatrix::parse(header).map_err(|e| Error::Unauthorized(format!("bad X-Matrix header: {e}")))?;
        if xmatrix.destination.as_deref().is_some_and(|d| d != self.server_name) {
            return Err(Error::Unauthorized("the request is addressed to another server".to_owned()));
        }
        if xmatrix.origin == self.server_name {
            return Err(Error::Unauthorized("a request signed as this server".to_owned()));
        }
        let key_id = xmatrix.key.to_string();
        let key = self
            .keys
            .key(&xmatrix.origin, &key_id)
            .await?
            .ok_or_else(|| Error::Unauthorized(format!("no key {key_id} of {} could be had", xmatrix.origin)))?;
        let key = ruma::serde::Base64::parse(&key).map_err(|e| Error::Unauthorized(format!("bad key: {e}")))?;
        let map = ruma::signatures::PublicKeyMap::from([(
            xmatrix.origin.to_string(),
            ruma::signatures::PublicKeySet::from([(key_id, key)]),
        )]);
        let http_request = http::Request::builder()
            .method(request.method)
            .uri(request.uri)
            .body(request.body)
            .map_err(|e| Error::Unauthorized(format!("bad request: {e}")))?;
        xmatrix
            .verify_http_request(&http_request, &self.server_name, &map)
            .map_err(|e| Error::Unauthorized(format!("bad X-Matrix signature: {e}")))?;
        Ok(xmatrix.origin)
    }

    pub fn server_name(&self) -> &ServerName {
        &self.server_name
    }
}
