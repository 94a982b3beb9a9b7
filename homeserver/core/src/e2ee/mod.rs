//! End-to-end encryption support (spec: "End-to-end encryption",
//! "Send-to-Device messaging", "Server-side key backups"). The server
//! carries keys and ciphertext between devices; it never sees plaintext.

pub mod backup;
pub mod keys;
pub mod to_device;

use ruma::serde::Base64;
use ruma::signatures::{PublicKeyMap, PublicKeySet};
use serde_json::{Map, Value};

use crate::{Error, Result};

/// The E2EE services together: what accounts need when devices go away,
/// and what sync reports.
pub struct E2ee {
    pub keys: keys::Keys,
    pub to_device: to_device::ToDevice,
    pub backup: backup::KeyBackup,
}

/// Checks that `object` (a device or cross-signing key, or a signed key)
/// carries a valid signature by `signer`'s ed25519 key `key_id` (`ed25519:…`)
/// whose public part is `public_key` (unpadded base64).
pub(crate) fn verify_signature(
    object: &Map<String, Value>,
    signer: &str,
    key_id: &str,
    public_key: &str,
) -> Result<()> {
    // ruma checks the signatures present; a missing one must fail too.
    let signed = object.get("signatures").and_then(|s| s.get(signer)).and_then(|s| s.get(key_id)).is_some();
    if !signed {
        return Err(Error::InvalidSignature(format!("no signature by {signer} with {key_id}")));
    }
    let key = Base64::parse(public_key).map_err(|e| Error::InvalidParam(format!("bad public key {key_id}: {e}")))?;
    let mut keys = PublicKeySet::new();
    keys.insert(key_id.to_owned(), key);
    let mut map = PublicKeyMap::new();
    map.insert(signer.to_owned(), keys);
    // Only the signer's signature is checked: others may be missing keys.
    let mut only_signer = object.clone();
    if let Some(Value::Object(signatures)) = only_signer.get_mut("signatures") {
        signatures.retain(|user, _| user == signer);
        if let Some(Value::Object(by_signer)) = signatures.get_mut(signer) {
            by_signer.retain(|id, _| id == key_id);
        }
    }
    let canonical: ruma::CanonicalJsonObject = ruma::canonical_json::try_from_json_map(only_signer)
        .map_err(|e| Error::BadJson(format!("keys must be canonical JSON: {e}")))?;
    ruma::signatures::verify_json(&map, &canonical)
        .map_err(|e| Error::InvalidSignature(format!("signature by {signer} {key_id} does not verify: {e}")))
}

/// The single ed25519 key of a cross-signing key object: `(key id, key)`.
pub(crate) fn ed25519_key(object: &Map<String, Value>) -> Option<(String, String)> {
    let keys = object.get("keys")?.as_object()?;
    keys.iter()
        .find(|(id, _)| id.starts_with("ed25519:"))
        .and_then(|(id, k)| Some((id.clone(), k.as_str()?.to_owned())))
}
