//! LiveKit's identifiers: a type prefix and twelve base62 characters
//! (`RM_` rooms, `PA_` participants, `TR_` tracks). Clients rely on the
//! prefixes — LiveKit's Rust SDK refuses a participant sid without `PA_`.

use rand::Rng;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn with_prefix(prefix: &str) -> String {
    let mut rng = rand::thread_rng();
    let mut id = String::with_capacity(prefix.len() + 12);
    id.push_str(prefix);
    id.extend((0..12).map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char));
    id
}

pub fn room_sid() -> String {
    with_prefix("RM_")
}

pub fn participant_sid() -> String {
    with_prefix("PA_")
}

/// A track sid; LiveKit puts the kind and source after the prefix
/// (`TR_AM…` a microphone), which some tools read.
pub fn track_sid(kind_letter: char, source_letter: char) -> String {
    let mut id = with_prefix("TR_");
    id.insert(3, source_letter);
    id.insert(3, kind_letter);
    id.truncate(3 + 12);
    id
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_their_prefix_and_length() {
        assert!(super::participant_sid().starts_with("PA_"));
        assert_eq!(super::room_sid().len(), 15);
        let track = super::track_sid('A', 'M');
        assert!(track.starts_with("TR_AM") && track.len() == 15, "{track}");
    }
}
