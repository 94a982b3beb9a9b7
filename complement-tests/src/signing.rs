//! Matrix signing, written from the spec ("Signing JSON", "Signing
//! Events", "Calculating the reference hash for an event", "Redactions"):
//! canonical JSON, ed25519 signatures on JSON objects, content hashes, the
//! redaction algorithm of room versions 11 and 12, reference-hash event ids
//! (room versions 4 and later) and the `X-Matrix` request authorisation.
//!
//! Only what the forged-event scenarios and the key server checks need; it
//! is not a general implementation (e.g. numbers are assumed to be
//! integers, as canonical JSON requires).

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Canonical JSON: object keys sorted by code point, no insignificant
/// whitespace, UTF-8 without needless escapes.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(key).expect("serialise a key"));
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        // serde_json escapes only what JSON requires, as canonical JSON does.
        other => out.push_str(&serde_json::to_string(other).expect("serialise a scalar")),
    }
}

/// Unpadded standard base64 (what Matrix uses for keys, signatures, hashes).
pub fn unpadded_base64(bytes: &[u8]) -> String {
    STANDARD_NO_PAD.encode(bytes)
}

/// Decodes base64 leniently: padded or not, standard or URL-safe alphabet.
pub fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let trimmed = text.trim_end_matches('=');
    STANDARD_NO_PAD.decode(trimmed).or_else(|_| URL_SAFE_NO_PAD.decode(trimmed)).ok()
}

/// An ed25519 signing key with its key id (`ed25519:<version>`).
#[derive(Clone)]
pub struct KeyPair {
    pub key_id: String,
    signing: SigningKey,
}

impl KeyPair {
    /// A fresh random key named `key_id` (e.g. `ed25519:peer`).
    pub fn generate(key_id: &str) -> KeyPair {
        assert!(key_id.starts_with("ed25519:"), "key ids are ed25519:<version>: {key_id}");
        let seed: [u8; 32] = rand::random();
        KeyPair { key_id: key_id.to_owned(), signing: SigningKey::from_bytes(&seed) }
    }

    /// The public key, unpadded base64.
    pub fn public_key_base64(&self) -> String {
        unpadded_base64(&self.signing.verifying_key().to_bytes())
    }

    /// Signs `message`; the signature as unpadded base64.
    pub fn sign_bytes(&self, message: &[u8]) -> String {
        unpadded_base64(&self.signing.sign(message).to_bytes())
    }
}

/// What a signature covers: the canonical JSON of `value` without its
/// `signatures` and `unsigned`.
pub fn signing_bytes(value: &Value) -> Vec<u8> {
    let mut stripped = value.clone();
    if let Some(map) = stripped.as_object_mut() {
        map.remove("signatures");
        map.remove("unsigned");
    }
    canonical_json(&stripped).into_bytes()
}

/// Adds `signatures[server_name][key_id]` to a JSON object (keeping other
/// signatures).
pub fn sign_json(value: &mut Value, server_name: &str, key: &KeyPair) {
    let signature = key.sign_bytes(&signing_bytes(value));
    add_signature(value, server_name, &key.key_id, signature);
}

fn add_signature(value: &mut Value, server_name: &str, key_id: &str, signature: String) {
    let map = value.as_object_mut().expect("only JSON objects are signed");
    let signatures = map.entry("signatures").or_insert_with(|| json!({}));
    let by_server = signatures
        .as_object_mut()
        .expect("signatures is an object")
        .entry(server_name.to_owned())
        .or_insert_with(|| json!({}));
    by_server
        .as_object_mut()
        .expect("signatures of a server are an object")
        .insert(key_id.to_owned(), json!(signature));
}

/// Checks `signatures[server_name][key_id]` of `value` against the public
/// key (unpadded base64).
pub fn verify_json(value: &Value, server_name: &str, key_id: &str, public_key_base64: &str) -> Result<(), String> {
    let signature = value["signatures"][server_name][key_id]
        .as_str()
        .ok_or_else(|| format!("no signature by {server_name} with {key_id}"))?;
    let signature = decode_base64(signature).ok_or("the signature is not base64")?;
    let signature = Signature::from_slice(&signature).map_err(|e| format!("not an ed25519 signature: {e}"))?;
    let key = decode_base64(public_key_base64).ok_or("the public key is not base64")?;
    let key: [u8; 32] = key.try_into().map_err(|_| "an ed25519 public key has 32 bytes")?;
    let key = VerifyingKey::from_bytes(&key).map_err(|e| format!("not an ed25519 public key: {e}"))?;
    key.verify_strict(&signing_bytes(value), &signature).map_err(|e| format!("the signature does not verify: {e}"))
}

/// The content hash of a PDU: SHA-256 over its canonical JSON without
/// `unsigned`, `signatures` and `hashes`, unpadded base64.
pub fn content_hash(pdu: &Value) -> String {
    let mut stripped = pdu.clone();
    if let Some(map) = stripped.as_object_mut() {
        map.remove("unsigned");
        map.remove("signatures");
        map.remove("hashes");
    }
    unpadded_base64(&Sha256::digest(canonical_json(&stripped).as_bytes()))
}

/// The top-level keys the redaction algorithm keeps (room versions 11, 12).
const REDACTION_KEPT_KEYS: &[&str] = &[
    "event_id",
    "type",
    "room_id",
    "sender",
    "state_key",
    "content",
    "hashes",
    "signatures",
    "depth",
    "prev_events",
    "auth_events",
    "origin_server_ts",
];

/// A PDU redacted per the algorithm of room versions 11 and 12.
pub fn redact(pdu: &Value) -> Value {
    let source = pdu.as_object().expect("a PDU is an object");
    let mut out = Map::new();
    for key in REDACTION_KEPT_KEYS {
        if let Some(value) = source.get(*key) {
            out.insert((*key).to_owned(), value.clone());
        }
    }
    let content = source.get("content").and_then(Value::as_object).cloned().unwrap_or_default();
    let kept_content: Map<String, Value> = match source.get("type").and_then(Value::as_str).unwrap_or_default() {
        // Room version 11: the whole content of m.room.create is kept.
        "m.room.create" => content,
        event_type => {
            let keys: &[&str] = match event_type {
                "m.room.member" => &["membership", "join_authorised_via_users_server"],
                "m.room.join_rules" => &["join_rule", "allow"],
                "m.room.power_levels" => &[
                    "ban",
                    "events",
                    "events_default",
                    "invite",
                    "kick",
                    "redact",
                    "state_default",
                    "users",
                    "users_default",
                ],
                "m.room.history_visibility" => &["history_visibility"],
                "m.room.redaction" => &["redacts"],
                _ => &[],
            };
            let mut kept: Map<String, Value> =
                keys.iter().filter_map(|k| content.get(*k).map(|v| ((*k).to_owned(), v.clone()))).collect();
            if event_type == "m.room.member"
                && let Some(signed) = content.get("third_party_invite").and_then(|t| t.get("signed"))
            {
                kept.insert("third_party_invite".to_owned(), json!({"signed": signed}));
            }
            kept
        }
    };
    out.insert("content".to_owned(), Value::Object(kept_content));
    Value::Object(out)
}

/// The event id of a PDU in room versions 4 and later: `$` and the URL-safe
/// unpadded base64 of the SHA-256 of the canonical JSON of the redacted PDU
/// without `signatures` and `unsigned`.
pub fn reference_event_id(pdu: &Value) -> String {
    let mut redacted = redact(pdu);
    if let Some(map) = redacted.as_object_mut() {
        map.remove("signatures");
        map.remove("unsigned");
        map.remove("event_id");
    }
    format!("${}", URL_SAFE_NO_PAD.encode(Sha256::digest(canonical_json(&redacted).as_bytes())))
}

/// Finishes a PDU as its origin server would: sets `hashes.sha256`, signs
/// the redacted form with `key` as `server_name`, and returns the event id.
pub fn sign_pdu(pdu: &mut Value, server_name: &str, key: &KeyPair) -> String {
    let map = pdu.as_object_mut().expect("a PDU is an object");
    map.remove("signatures");
    map.remove("hashes");
    map.remove("event_id");
    let hash = content_hash(pdu);
    pdu["hashes"] = json!({"sha256": hash});
    let signature = key.sign_bytes(&signing_bytes(&redact(pdu)));
    add_signature(pdu, server_name, &key.key_id, signature);
    reference_event_id(pdu)
}

/// The `Authorization` header value of a federation request: the request
/// (`method`, `uri` — path and query exactly as sent —, `origin`,
/// `destination`, and `content` when there is a body) signed by `key`.
pub fn x_matrix_authorization(
    key: &KeyPair,
    origin: &str,
    destination: &str,
    method: &str,
    uri: &str,
    content: Option<&Value>,
) -> String {
    let mut request = json!({"method": method, "uri": uri, "origin": origin, "destination": destination});
    if let Some(content) = content {
        request["content"] = content.clone();
    }
    let signature = key.sign_bytes(canonical_json(&request).as_bytes());
    format!("X-Matrix origin=\"{origin}\",destination=\"{destination}\",key=\"{}\",sig=\"{signature}\"", key.key_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_and_drops_whitespace() {
        let value = json!({"b": 1, "a": {"d": [1, 2, {"z": "é", "y": null}], "c": true}, "": "\"\n"});
        assert_eq!(canonical_json(&value), r#"{"":"\"\n","a":{"c":true,"d":[1,2,{"y":null,"z":"é"}]},"b":1}"#);
    }

    #[test]
    fn signed_json_verifies_and_tampering_is_detected() {
        let key = KeyPair::generate("ed25519:test");
        let mut value = json!({"hello": "world", "unsigned": {"age": 1}});
        sign_json(&mut value, "example.org", &key);
        verify_json(&value, "example.org", "ed25519:test", &key.public_key_base64()).unwrap();
        value["hello"] = json!("mars");
        assert!(verify_json(&value, "example.org", "ed25519:test", &key.public_key_base64()).is_err());
    }

    #[test]
    fn the_event_id_ignores_signatures_and_message_content() {
        let key = KeyPair::generate("ed25519:test");
        let mut pdu = json!({
            "type": "m.room.message", "room_id": "!r:example.org", "sender": "@u:example.org",
            "origin_server_ts": 1, "depth": 3, "prev_events": ["$a"], "auth_events": ["$b"],
            "content": {"body": "hi", "msgtype": "m.text"},
        });
        let id = sign_pdu(&mut pdu, "example.org", &key);
        assert!(id.starts_with('$') && !id.contains(['+', '/', '=']), "{id}");
        let mut other = pdu.clone();
        other["signatures"] = json!({});
        other["content"]["body"] = json!("changed");
        assert_eq!(reference_event_id(&other), id);
        assert_ne!(content_hash(&other), pdu["hashes"]["sha256"].as_str().unwrap());
    }
}
