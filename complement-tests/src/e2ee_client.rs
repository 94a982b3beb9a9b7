//! End-to-end encryption over raw HTTP: keys a scenario generates and signs
//! itself (device keys, one-time and fallback keys, cross-signing keys), the
//! `/keys/*`, `/sendToDevice` and `/room_keys/*` requests, and accessors for
//! the E2EE parts of a `/sync` answer.
//!
//! Signatures follow the spec's "Signing JSON" appendix: the canonical JSON
//! of the object without its `signatures` and `unsigned` properties, signed
//! with ed25519, unpadded base64, stored under
//! `signatures[<user id>][<algorithm>:<key id>]`. The key material comes
//! from vodozemac (through matrix-sdk), the canonical JSON from ruma.

use matrix_sdk::encryption::vodozemac::{Curve25519PublicKey, Curve25519SecretKey, Ed25519Keypair};
use matrix_sdk::ruma::CanonicalJsonValue;
use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::client::{Reply, Session, enc};
use crate::sync_client::Synced;

/// The one-time key algorithm every scenario uses.
pub const SIGNED_CURVE25519: &str = "signed_curve25519";
/// The Olm and Megolm algorithms a device advertises.
pub const DEVICE_ALGORITHMS: [&str; 2] = ["m.olm.v1.curve25519-aes-sha2", "m.megolm.v1.aes-sha2"];
/// The only key backup algorithm the spec defines.
pub const BACKUP_ALGORITHM: &str = "m.megolm_backup.v1.curve25519-aes-sha2";

/// The bytes an ed25519 signature of `value` covers: its canonical JSON
/// without `signatures` and `unsigned`.
pub fn signable_bytes(value: &Value) -> Vec<u8> {
    let mut value = value.clone();
    if let Some(object) = value.as_object_mut() {
        object.remove("signatures");
        object.remove("unsigned");
    }
    let canonical = CanonicalJsonValue::try_from(value).expect("a JSON value with canonical-JSON-safe numbers");
    canonical.to_string().into_bytes()
}

/// A fresh curve25519 public key, unpadded base64.
pub fn curve25519_public_key() -> String {
    Curve25519PublicKey::from(&Curve25519SecretKey::new()).to_base64()
}

/// An ed25519 key pair that signs JSON objects.
pub struct SigningKey {
    pair: Ed25519Keypair,
}

impl Default for SigningKey {
    fn default() -> Self {
        Self::generate()
    }
}

impl SigningKey {
    pub fn generate() -> SigningKey {
        SigningKey { pair: Ed25519Keypair::new() }
    }

    /// The public key, unpadded base64.
    pub fn public(&self) -> String {
        self.pair.public_key().to_base64()
    }

    /// `ed25519:<public key>`: the key id of a cross-signing key.
    pub fn public_key_id(&self) -> String {
        format!("ed25519:{}", self.public())
    }

    /// The signature of `value` (see [`signable_bytes`]), unpadded base64.
    pub fn signature(&self, value: &Value) -> String {
        self.pair.sign(&signable_bytes(value)).to_base64()
    }

    /// Adds this key's signature of `value` as
    /// `signatures[signer][key_id]`, keeping any other signatures.
    pub fn sign_into(&self, value: &mut Value, signer: &str, key_id: &str) {
        let signature = self.signature(value);
        let signatures =
            value.as_object_mut().expect("only objects are signed").entry("signatures").or_insert_with(|| json!({}));
        let by_signer = signatures
            .as_object_mut()
            .expect("signatures is an object")
            .entry(signer.to_owned())
            .or_insert_with(|| json!({}));
        by_signer.as_object_mut().expect("signatures[user] is an object").insert(key_id.to_owned(), json!(signature));
    }

    /// `value` with only this key's signature (other signatures dropped),
    /// e.g. for `POST /keys/signatures/upload`.
    pub fn signed_alone(&self, value: &Value, signer: &str, key_id: &str) -> Value {
        let mut value = value.clone();
        if let Some(object) = value.as_object_mut() {
            object.remove("signatures");
            object.remove("unsigned");
        }
        self.sign_into(&mut value, signer, key_id);
        value
    }
}

/// The identity keys of one device of `user_id`, made up by the scenario.
pub struct DeviceKeys {
    pub user_id: String,
    pub device_id: String,
    pub ed25519: SigningKey,
    pub curve25519: String,
}

impl DeviceKeys {
    pub fn generate(user_id: &str, device_id: &str) -> DeviceKeys {
        DeviceKeys {
            user_id: user_id.to_owned(),
            device_id: device_id.to_owned(),
            ed25519: SigningKey::generate(),
            curve25519: curve25519_public_key(),
        }
    }

    /// Keys for the device a session is logged in with.
    pub fn for_session(session: &Session) -> DeviceKeys {
        DeviceKeys::generate(&session.user_id, &session.device_id)
    }

    /// `ed25519:<device id>`: the id of the device's signing key.
    pub fn key_id(&self) -> String {
        format!("ed25519:{}", self.device_id)
    }

    /// The `device_keys` object, self-signed (spec `DeviceKeys`).
    pub fn signed(&self) -> Value {
        let mut keys = json!({
            "user_id": self.user_id,
            "device_id": self.device_id,
            "algorithms": DEVICE_ALGORITHMS,
            "keys": {
                format!("curve25519:{}", self.device_id): self.curve25519,
                self.key_id(): self.ed25519.public(),
            },
        });
        self.ed25519.sign_into(&mut keys, &self.user_id, &self.key_id());
        keys
    }

    /// A signed `signed_curve25519` key object (one-time or fallback).
    pub fn signed_key(&self, fallback: bool) -> Value {
        let mut key = json!({"key": curve25519_public_key()});
        if fallback {
            key["fallback"] = json!(true);
        }
        self.ed25519.sign_into(&mut key, &self.user_id, &self.key_id());
        key
    }

    /// `one_time_keys` with a fresh signed key for each of `ids`.
    pub fn one_time_keys(&self, ids: &[&str]) -> Value {
        let keys: Map<String, Value> =
            ids.iter().map(|id| (format!("{SIGNED_CURVE25519}:{id}"), self.signed_key(false))).collect();
        Value::Object(keys)
    }

    /// `fallback_keys` with one fresh signed fallback key `id`.
    pub fn fallback_keys(&self, id: &str) -> Value {
        json!({ format!("{SIGNED_CURVE25519}:{id}"): self.signed_key(true) })
    }
}

/// A user's three cross-signing keys, made up by the scenario.
pub struct CrossSigningKeys {
    pub user_id: String,
    pub master: SigningKey,
    pub self_signing: SigningKey,
    pub user_signing: SigningKey,
}

impl CrossSigningKeys {
    pub fn generate(user_id: &str) -> CrossSigningKeys {
        CrossSigningKeys {
            user_id: user_id.to_owned(),
            master: SigningKey::generate(),
            self_signing: SigningKey::generate(),
            user_signing: SigningKey::generate(),
        }
    }

    fn unsigned_key(&self, usage: &str, key: &SigningKey) -> Value {
        json!({
            "user_id": self.user_id,
            "usage": [usage],
            "keys": { key.public_key_id(): key.public() },
        })
    }

    /// The master key object (unsigned: its signatures are optional).
    pub fn master_key(&self) -> Value {
        self.unsigned_key("master", &self.master)
    }

    /// The self-signing key object, signed by the master key.
    pub fn self_signing_key(&self) -> Value {
        let mut key = self.unsigned_key("self_signing", &self.self_signing);
        self.master.sign_into(&mut key, &self.user_id, &self.master.public_key_id());
        key
    }

    /// The user-signing key object, signed by the master key.
    pub fn user_signing_key(&self) -> Value {
        let mut key = self.unsigned_key("user_signing", &self.user_signing);
        self.master.sign_into(&mut key, &self.user_id, &self.master.public_key_id());
        key
    }

    /// The body of `POST /keys/device_signing/upload` with all three keys.
    pub fn upload_body(&self) -> Value {
        json!({
            "master_key": self.master_key(),
            "self_signing_key": self.self_signing_key(),
            "user_signing_key": self.user_signing_key(),
        })
    }

    /// One of this user's device key objects signed by the self-signing key
    /// (that signature alone), for `POST /keys/signatures/upload`.
    pub fn sign_own_device(&self, device_keys: &Value) -> Value {
        self.self_signing.signed_alone(device_keys, &self.user_id, &self.self_signing.public_key_id())
    }

    /// Another user's master key object signed by this user's user-signing
    /// key (that signature alone), for `POST /keys/signatures/upload`.
    pub fn sign_other_master(&self, master_key: &Value) -> Value {
        self.user_signing.signed_alone(master_key, &self.user_id, &self.user_signing.public_key_id())
    }
}

/// `/room_keys/keys[/{roomId}[/{sessionId}]]?version=`.
pub fn room_keys_path(room_id: Option<&str>, session_id: Option<&str>, version: &str) -> String {
    let mut path = "/room_keys/keys".to_owned();
    if let Some(room_id) = room_id {
        path.push_str(&format!("/{}", enc(room_id)));
        if let Some(session_id) = session_id {
            path.push_str(&format!("/{}", enc(session_id)));
        }
    }
    format!("{path}?version={}", enc(version))
}

/// `POST /keys/signatures/upload` body: `{user: {key id: object}}`.
pub fn signatures_body(user_id: &str, key_id: &str, signed: Value) -> Value {
    json!({ user_id: { key_id: signed } })
}

/// `/keys/*`, `/sendToDevice` and `/room_keys/*` requests.
impl Session {
    /// `POST /keys/upload` with `body`.
    pub async fn upload_keys(&self, body: Value) -> Reply {
        self.post("/keys/upload", body).await
    }

    /// `POST /keys/upload`; asserts a 200 and returns `one_time_key_counts`.
    pub async fn upload_keys_ok(&self, body: Value) -> Value {
        let reply = self.upload_keys(body).await;
        let counts = reply.expect_ok()["one_time_key_counts"].clone();
        assert!(counts.is_object(), "one_time_key_counts is required and an object: {reply:?}");
        counts
    }

    /// `POST /keys/query` with `{"device_keys": {user: device ids}}`.
    pub async fn query_keys(&self, users: &[(&str, &[&str])]) -> Reply {
        let device_keys: Map<String, Value> =
            users.iter().map(|(user, ids)| ((*user).to_owned(), json!(ids))).collect();
        self.post("/keys/query", json!({ "device_keys": device_keys })).await
    }

    /// `POST /keys/query` for all devices of `user_id`; asserts a 200 and
    /// returns the body.
    pub async fn query_user_keys(&self, user_id: &str) -> Value {
        self.query_keys(&[(user_id, &[])]).await.expect_ok().clone()
    }

    /// `POST /keys/claim` for one key of `algorithm` per listed device.
    pub async fn claim_keys(&self, claims: &[(&str, &str, &str)]) -> Reply {
        let mut one_time_keys = Map::new();
        for (user, device, algorithm) in claims {
            one_time_keys
                .entry((*user).to_owned())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("an object")
                .insert((*device).to_owned(), json!(algorithm));
        }
        self.post("/keys/claim", json!({ "one_time_keys": one_time_keys })).await
    }

    /// Claims one `signed_curve25519` key of one device; asserts a 200 and
    /// returns the `(key id, key object)` handed out, if any.
    pub async fn claim_one(&self, user_id: &str, device_id: &str) -> Option<(String, Value)> {
        let reply = self.claim_keys(&[(user_id, device_id, SIGNED_CURVE25519)]).await;
        let body = reply.expect_ok();
        assert!(body["one_time_keys"].is_object(), "one_time_keys is required: {reply:?}");
        let keys = body["one_time_keys"].get(user_id).and_then(|u| u.get(device_id)).and_then(Value::as_object)?;
        assert!(keys.len() <= 1, "one key per claimed device and algorithm: {reply:?}");
        keys.iter().next().map(|(id, key)| (id.clone(), key.clone()))
    }

    /// `GET /keys/changes?from=&to=`.
    pub async fn keys_changes(&self, from: &str, to: &str) -> Reply {
        self.get(&format!("/keys/changes?from={}&to={}", enc(from), enc(to))).await
    }

    /// `POST /keys/device_signing/upload` with `body` (no `auth`).
    pub async fn upload_cross_signing(&self, body: Value) -> Reply {
        self.post("/keys/device_signing/upload", body).await
    }

    /// `POST /keys/signatures/upload` with `body`.
    pub async fn upload_signatures(&self, body: Value) -> Reply {
        self.post("/keys/signatures/upload", body).await
    }

    /// `PUT /sendToDevice/{type}/{txnId}` with `{"messages": messages}`.
    pub async fn send_to_device(&self, event_type: &str, txn_id: &str, messages: Value) -> Reply {
        let path = format!("/sendToDevice/{}/{}", enc(event_type), enc(txn_id));
        self.put(&path, json!({ "messages": messages })).await
    }

    /// `POST /room_keys/version` with `auth_data`; asserts a 200 and
    /// returns the new version.
    pub async fn create_backup_version(&self, auth_data: Value) -> String {
        let reply =
            self.post("/room_keys/version", json!({"algorithm": BACKUP_ALGORITHM, "auth_data": auth_data})).await;
        reply.expect_ok()["version"]
            .as_str()
            .unwrap_or_else(|| panic!("POST /room_keys/version without a string version: {reply:?}"))
            .to_owned()
    }

    /// `GET /room_keys/version` (the current backup) or
    /// `GET /room_keys/version/{version}`.
    pub async fn backup_version(&self, version: Option<&str>) -> Reply {
        match version {
            None => self.get("/room_keys/version").await,
            Some(version) => self.get(&format!("/room_keys/version/{}", enc(version))).await,
        }
    }

    /// A request to `/room_keys/keys[/{roomId}[/{sessionId}]]?version=`.
    pub async fn room_keys(
        &self,
        method: Method,
        room_id: Option<&str>,
        session_id: Option<&str>,
        version: &str,
        body: Option<Value>,
    ) -> Reply {
        let path = room_keys_path(room_id, session_id, version);
        self.request(method, &path, body.as_ref()).await
    }
}

/// The E2EE parts of a `/sync` answer (spec "Extensions to /sync" of the
/// send-to-device and end-to-end encryption modules).
impl Synced {
    /// `to_device.events`.
    pub fn to_device(&self) -> Vec<Value> {
        self.body["to_device"]["events"].as_array().cloned().unwrap_or_default()
    }

    /// `device_lists.changed`.
    pub fn device_lists_changed(&self) -> Vec<String> {
        strings(&self.body["device_lists"]["changed"])
    }

    /// `device_lists.left`.
    pub fn device_lists_left(&self) -> Vec<String> {
        strings(&self.body["device_lists"]["left"])
    }

    /// `device_one_time_keys_count[algorithm]`, an omitted count (or map)
    /// reading as 0 (the spec lets servers omit zero counts).
    #[track_caller]
    pub fn one_time_keys_count(&self, algorithm: &str) -> u64 {
        match self.body.get("device_one_time_keys_count").and_then(|c| c.get(algorithm)) {
            None => 0,
            Some(count) => {
                count.as_u64().unwrap_or_else(|| panic!("a non-integer one-time key count: {:?}", self.reply))
            }
        }
    }

    /// `device_unused_fallback_key_types`, asserting it is there ("Required").
    #[track_caller]
    pub fn unused_fallback_key_types(&self) -> Vec<String> {
        let types = self
            .body
            .get("device_unused_fallback_key_types")
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("device_unused_fallback_key_types is required: {:?}", self.reply));
        types
            .iter()
            .map(|t| t.as_str().unwrap_or_else(|| panic!("a non-string type: {:?}", self.reply)).to_owned())
            .collect()
    }
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}
