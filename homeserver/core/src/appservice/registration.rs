//! Registration files: the YAML every bridge generates (spec: application
//! service API, "Registration"). Unknown keys are ignored, because bridges
//! add their own; a file that cannot be used is refused with an error that
//! names the file and the key, so an operator finds the typo in one look.

use std::path::Path;

use regex::Regex;
use ruma::{OwnedUserId, ServerName, UserId};
use serde::Deserialize;
use sha2::{Digest, Sha256};

/// One namespace entry: a regular expression and whether it is exclusive.
#[derive(Debug, Clone)]
pub struct Namespace {
    pub exclusive: bool,
    regex: Regex,
}

impl Namespace {
    pub fn matches(&self, candidate: &str) -> bool {
        self.regex.is_match(candidate)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    pub users: Vec<Namespace>,
    pub aliases: Vec<Namespace>,
    pub rooms: Vec<Namespace>,
}

/// A loaded, validated registration. Not `Debug`: it holds a secret.
#[derive(Clone)]
pub struct Registration {
    pub id: String,
    /// Where transactions and queries go; none for an appservice that only
    /// uses the client-server API.
    pub url: Option<String>,
    /// SHA-256 of `as_token`: tokens are compared by their hash, so a lookup
    /// costs the same whichever token is presented.
    pub as_token_hash: [u8; 32],
    pub hs_token: String,
    pub sender: OwnedUserId,
    pub namespaces: Namespaces,
    pub rate_limited: bool,
    pub protocols: Vec<String>,
    /// MSC2409: typing, receipts and presence pushed in transactions.
    pub receive_ephemeral: bool,
    /// MSC3202: device lists, one-time key counts and to-device messages.
    pub device_masquerading_and_e2ee: bool,
    /// MSC4190: devices are managed with `PUT`/`DELETE /devices`, never by
    /// logging in.
    pub device_management: bool,
    /// Which file it came from, for messages.
    pub source: String,
}

impl Registration {
    /// A user is the appservice's if it is its sender or in a user namespace.
    pub fn owns_user(&self, user_id: &UserId) -> bool {
        *user_id == self.sender || self.namespaces.users.iter().any(|n| n.matches(user_id.as_str()))
    }

    pub fn owns_user_exclusively(&self, user_id: &UserId) -> bool {
        *user_id == self.sender || self.namespaces.users.iter().any(|n| n.exclusive && n.matches(user_id.as_str()))
    }

    pub fn owns_alias(&self, alias: &str) -> bool {
        self.namespaces.aliases.iter().any(|n| n.matches(alias))
    }

    pub fn owns_alias_exclusively(&self, alias: &str) -> bool {
        self.namespaces.aliases.iter().any(|n| n.exclusive && n.matches(alias))
    }

    pub fn owns_room(&self, room_id: &str) -> bool {
        self.namespaces.rooms.iter().any(|n| n.matches(room_id))
    }
}

pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// A registration that cannot be used, with the file and key at fault.
#[derive(Debug, Clone, thiserror::Error)]
#[error("appservice registration {file}: key `{key}`: {problem}")]
pub struct RegistrationError {
    pub file: String,
    pub key: String,
    pub problem: String,
}

#[derive(Deserialize)]
struct RawRegistration {
    id: String,
    #[serde(default)]
    url: Option<String>,
    as_token: String,
    hs_token: String,
    sender_localpart: String,
    #[serde(default)]
    namespaces: RawNamespaces,
    #[serde(default)]
    rate_limited: Option<bool>,
    #[serde(default)]
    protocols: Option<Vec<String>>,
    #[serde(default)]
    receive_ephemeral: Option<bool>,
    #[serde(default, rename = "de.sorunome.msc2409.push_ephemeral")]
    push_ephemeral: Option<bool>,
    #[serde(default, rename = "org.matrix.msc3202")]
    msc3202: Option<bool>,
    #[serde(default, rename = "io.element.msc4190")]
    msc4190: Option<bool>,
}

#[derive(Deserialize, Default)]
struct RawNamespaces {
    #[serde(default)]
    users: Option<Vec<RawNamespace>>,
    #[serde(default)]
    aliases: Option<Vec<RawNamespace>>,
    #[serde(default)]
    rooms: Option<Vec<RawNamespace>>,
}

#[derive(Deserialize)]
struct RawNamespace {
    #[serde(default)]
    exclusive: bool,
    regex: String,
}

/// Reads and checks one registration file.
pub fn load_file(path: &Path, server_name: &ServerName) -> Result<Registration, RegistrationError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| RegistrationError {
        file: file.clone(),
        key: "(file)".to_owned(),
        problem: format!("cannot read it: {e}"),
    })?;
    parse(&text, &file, server_name)
}

/// Parses a registration from YAML text; `file` names it in errors.
pub fn parse(text: &str, file: &str, server_name: &ServerName) -> Result<Registration, RegistrationError> {
    let error = |key: &str, problem: String| RegistrationError { file: file.to_owned(), key: key.to_owned(), problem };
    let deserializer = serde_yaml::Deserializer::from_str(text);
    let raw: RawRegistration = serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().to_string();
        let key = if path == "." { "(document)".to_owned() } else { path };
        error(&key, e.into_inner().to_string())
    })?;
    for (key, value) in [("id", &raw.id), ("as_token", &raw.as_token), ("hs_token", &raw.hs_token)] {
        if value.is_empty() {
            return Err(error(key, "must not be empty".to_owned()));
        }
    }
    if raw.as_token == raw.hs_token {
        return Err(error("hs_token", "must differ from as_token".to_owned()));
    }
    // The spec's user id grammar, as for registration.
    let localpart_ok = !raw.sender_localpart.is_empty()
        && raw.sender_localpart.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._=-/+".contains(c));
    let sender = UserId::parse_with_server_name(raw.sender_localpart.as_str(), server_name)
        .ok()
        .filter(|_| localpart_ok)
        .ok_or_else(|| error("sender_localpart", format!("{:?} is not a valid localpart", raw.sender_localpart)))?;
    let url = match raw.url.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(url) => {
            let parsed = reqwest::Url::parse(url).map_err(|e| error("url", format!("{url:?} is not a URL: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(error("url", format!("{url:?} is not an http(s) URL")));
            }
            Some(url.trim_end_matches('/').to_owned())
        }
    };
    let namespaces = Namespaces {
        users: compile(raw.namespaces.users, "namespaces.users", &error)?,
        aliases: compile(raw.namespaces.aliases, "namespaces.aliases", &error)?,
        rooms: compile(raw.namespaces.rooms, "namespaces.rooms", &error)?,
    };
    Ok(Registration {
        id: raw.id,
        url,
        as_token_hash: token_hash(&raw.as_token),
        hs_token: raw.hs_token,
        sender,
        namespaces,
        // The spec's default: appservices are rate limited unless they say not.
        rate_limited: raw.rate_limited.unwrap_or(true),
        protocols: raw.protocols.unwrap_or_default(),
        receive_ephemeral: raw.receive_ephemeral.unwrap_or(false) || raw.push_ephemeral.unwrap_or(false),
        device_masquerading_and_e2ee: raw.msc3202.unwrap_or(false),
        device_management: raw.msc4190.unwrap_or(false),
        source: file.to_owned(),
    })
}

fn compile(
    entries: Option<Vec<RawNamespace>>,
    key: &str,
    error: &impl Fn(&str, String) -> RegistrationError,
) -> Result<Vec<Namespace>, RegistrationError> {
    let mut namespaces = Vec::new();
    for (i, entry) in entries.unwrap_or_default().into_iter().enumerate() {
        // Anchored at the start only, as Synapse matches: registrations in
        // the wild are written against that behaviour.
        let regex = Regex::new(&format!("^(?:{})", entry.regex))
            .map_err(|e| error(&format!("{key}[{i}].regex"), format!("not a valid regular expression: {e}")))?;
        namespaces.push(Namespace { exclusive: entry.exclusive, regex });
    }
    Ok(namespaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(result: Result<Registration, RegistrationError>) -> RegistrationError {
        match result {
            Ok(r) => panic!("{} was accepted", r.id),
            Err(e) => e,
        }
    }

    fn server() -> &'static ServerName {
        <&ServerName>::try_from("example.org").unwrap()
    }

    const MAUTRIX_STYLE: &str = r#"
id: telegram
url: http://localhost:29317
as_token: "as_secret"
hs_token: "hs_secret"
sender_localpart: telegrambot
rate_limited: false
namespaces:
  users:
    - regex: '@telegram_.*:example\.org'
      exclusive: true
  aliases:
    - regex: '#telegram_.*:example\.org'
      exclusive: true
de.sorunome.msc2409.push_ephemeral: true
receive_ephemeral: true
io.element.msc4190: true
some_bridge_specific_key: ignored
"#;

    #[test]
    fn a_mautrix_registration_loads_and_ignores_unknown_keys() {
        let r = parse(MAUTRIX_STYLE, "telegram.yaml", server()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.id, "telegram");
        assert_eq!(r.url.as_deref(), Some("http://localhost:29317"));
        assert_eq!(r.sender.as_str(), "@telegrambot:example.org");
        assert!(!r.rate_limited && r.receive_ephemeral && r.device_management);
        assert!(r.owns_user(UserId::parse("@telegram_42:example.org").unwrap().as_ref()));
        assert!(!r.owns_user(UserId::parse("@alice:example.org").unwrap().as_ref()));
        assert!(r.owns_alias_exclusively("#telegram_chat:example.org"));
    }

    #[test]
    fn a_null_url_means_no_pushes() {
        let text = MAUTRIX_STYLE.replace("url: http://localhost:29317", "url: null");
        assert_eq!(parse(&text, "f.yaml", server()).unwrap_or_else(|e| panic!("{e}")).url, None);
    }

    #[test]
    fn errors_name_the_file_and_the_key() {
        let bad_regex = MAUTRIX_STYLE.replace(r"'@telegram_.*:example\.org'", "'@telegram_(:example'");
        let e = refused(parse(&bad_regex, "telegram.yaml", server()));
        assert_eq!((e.file.as_str(), e.key.as_str()), ("telegram.yaml", "namespaces.users[0].regex"), "{e}");
        let missing = MAUTRIX_STYLE.replace("hs_token: \"hs_secret\"\n", "");
        let e = refused(parse(&missing, "telegram.yaml", server()));
        assert!(e.to_string().contains("hs_token"), "{e}");
        let wrong_type = MAUTRIX_STYLE.replace("rate_limited: false", "rate_limited: [1]");
        let e = refused(parse(&wrong_type, "telegram.yaml", server()));
        assert_eq!(e.key, "rate_limited", "{e}");
        let bad_localpart = MAUTRIX_STYLE.replace("sender_localpart: telegrambot", "sender_localpart: 'a b'");
        assert_eq!(refused(parse(&bad_localpart, "t.yaml", server())).key, "sender_localpart");
        assert_eq!(refused(parse("- just a list", "t.yaml", server())).file, "t.yaml");
    }

    #[test]
    fn the_error_message_never_holds_a_token() {
        let e = refused(parse(
            &MAUTRIX_STYLE.replace("sender_localpart: telegrambot", "sender_localpart: 'a b'"),
            "t",
            server(),
        ));
        assert!(!e.to_string().contains("as_secret") && !e.to_string().contains("hs_secret"));
    }
}
