//! The order-preserving key codec.
//!
//! A key is a tuple of parts. Encoding keeps tuple order as byte order, so a
//! range or prefix scan over encoded keys walks tuples in their natural order:
//! - integers are big-endian (u64) or sign-flipped big-endian (i64);
//! - strings and byte strings end with `0x00 0x01`, and a `0x00` inside them
//!   is escaped as `0x00 0xFF`; so a shorter string sorts before its
//!   extensions, and a string part followed by more parts never collides with
//!   a longer string;
//! - the last part may be a raw byte tail with no terminator.
//!
//! Only this module and the catalog know key layouts; services describe keys
//! through [`KeyBuilder`] and read them back through [`KeyReader`].

use std::fmt;

const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xFF;
const TERMINATOR: u8 = 0x01;

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct KeyBuilder {
    bytes: Vec<u8>,
}

impl KeyBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn u64(mut self, value: u64) -> Self {
        self.bytes.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Flipping the sign bit makes two's complement sort like the integers.
    pub fn i64(mut self, value: i64) -> Self {
        self.bytes.extend_from_slice(&((value as u64) ^ (1 << 63)).to_be_bytes());
        self
    }

    pub fn str(self, value: &str) -> Self {
        self.bytes(value.as_bytes())
    }

    pub fn bytes(mut self, value: &[u8]) -> Self {
        for &b in value {
            if b == ESCAPE {
                self.bytes.extend_from_slice(&[ESCAPE, ESCAPED_ZERO]);
            } else {
                self.bytes.push(b);
            }
        }
        self.bytes.extend_from_slice(&[ESCAPE, TERMINATOR]);
        self
    }

    /// A string part cut before its terminator: the prefix of every key
    /// whose next part is a string starting with `value` (for "starts
    /// with" scans). Nothing may follow it.
    pub fn str_prefix(mut self, value: &str) -> Vec<u8> {
        for &b in value.as_bytes() {
            if b == ESCAPE {
                self.bytes.extend_from_slice(&[ESCAPE, ESCAPED_ZERO]);
            } else {
                self.bytes.push(b);
            }
        }
        self.bytes
    }

    /// A final, unterminated part. Nothing may follow it.
    pub fn tail(mut self, value: &[u8]) -> Vec<u8> {
        self.bytes.extend_from_slice(value);
        self.bytes
    }

    pub fn build(self) -> Vec<u8> {
        self.bytes
    }
}

impl From<KeyBuilder> for Vec<u8> {
    fn from(key: KeyBuilder) -> Self {
        key.bytes
    }
}

/// A key that does not have the layout its reader expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDecodeError(&'static str);

impl fmt::Display for KeyDecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed key: {}", self.0)
    }
}

impl std::error::Error for KeyDecodeError {}

/// Reads the parts of a key in the order they were built.
pub struct KeyReader<'a> {
    rest: &'a [u8],
}

impl<'a> KeyReader<'a> {
    pub fn new(key: &'a [u8]) -> Self {
        KeyReader { rest: key }
    }

    pub fn u64(&mut self) -> Result<u64, KeyDecodeError> {
        let Some((head, rest)) = self.rest.split_first_chunk::<8>() else {
            return Err(KeyDecodeError("truncated integer"));
        };
        self.rest = rest;
        Ok(u64::from_be_bytes(*head))
    }

    pub fn i64(&mut self) -> Result<i64, KeyDecodeError> {
        Ok((self.u64()? ^ (1 << 63)) as i64)
    }

    pub fn bytes(&mut self) -> Result<Vec<u8>, KeyDecodeError> {
        let mut out = Vec::new();
        let mut i = 0;
        loop {
            match self.rest.get(i) {
                None => return Err(KeyDecodeError("unterminated string")),
                Some(&ESCAPE) => match self.rest.get(i + 1) {
                    Some(&ESCAPED_ZERO) => {
                        out.push(0);
                        i += 2;
                    }
                    Some(&TERMINATOR) => {
                        self.rest = &self.rest[i + 2..];
                        return Ok(out);
                    }
                    _ => return Err(KeyDecodeError("bad escape")),
                },
                Some(&b) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
    }

    pub fn str(&mut self) -> Result<String, KeyDecodeError> {
        String::from_utf8(self.bytes()?).map_err(|_| KeyDecodeError("string is not UTF-8"))
    }

    pub fn tail(self) -> &'a [u8] {
        self.rest
    }

    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(parts: &[&str]) -> Vec<u8> {
        parts.iter().fold(KeyBuilder::new(), |k, p| k.str(p)).build()
    }

    #[test]
    fn string_tuples_sort_like_tuples() {
        let mut tuples = [
            vec!["b", ""],
            vec!["a", "z"],
            vec!["a\0", "a"],
            vec!["a", "\0"],
            vec!["ab", "a"],
            vec!["a", "a\u{ff}"],
            vec!["", "x"],
        ];
        let mut encoded: Vec<Vec<u8>> = tuples.iter().map(|t| key(t)).collect();
        tuples.sort();
        encoded.sort();
        let expected: Vec<Vec<u8>> = tuples.iter().map(|t| key(t)).collect();
        assert_eq!(encoded, expected);
    }

    #[test]
    fn integers_sort_numerically() {
        let values = [i64::MIN, -300, -1, 0, 1, 255, 256, i64::MAX];
        let encoded: Vec<_> = values.iter().map(|v| KeyBuilder::new().i64(*v).build()).collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]));
        let unsigned = [0u64, 1, 255, 256, u64::MAX];
        let encoded: Vec<_> = unsigned.iter().map(|v| KeyBuilder::new().u64(*v).build()).collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn parts_read_back_as_written() {
        let k = KeyBuilder::new().str("@al\0ice:x").u64(42).i64(-7).bytes(&[0, 1, 0xFF]).tail(b"rest");
        let mut r = KeyReader::new(&k);
        assert_eq!(r.str().unwrap(), "@al\0ice:x");
        assert_eq!(r.u64().unwrap(), 42);
        assert_eq!(r.i64().unwrap(), -7);
        assert_eq!(r.bytes().unwrap(), vec![0, 1, 0xFF]);
        assert_eq!(r.tail(), b"rest");
    }

    #[test]
    fn a_string_prefix_scan_does_not_match_longer_strings() {
        let alice = KeyBuilder::new().str("alice").build();
        let alicia = KeyBuilder::new().str("alicia").build();
        let alice_device = KeyBuilder::new().str("alice").str("DEV").build();
        assert!(alice_device.starts_with(&alice));
        assert!(!alicia.starts_with(&alice));
    }

    #[test]
    fn malformed_keys_are_errors_not_panics() {
        assert!(KeyReader::new(&[1, 2]).u64().is_err());
        assert!(KeyReader::new(b"abc").bytes().is_err());
        assert!(KeyReader::new(&[b'a', 0, 7]).bytes().is_err());
        assert!(KeyReader::new(&[0xC3, 0x28, 0, 1]).str().is_err());
    }
}
