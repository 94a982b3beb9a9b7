//! Password hashing with Argon2id (the argon2 crate's defaults: 19 MiB,
//! 2 passes, 1 lane — OWASP's recommended minimum). Hashing is deliberately
//! slow, so it runs on the blocking pool, never on an async worker.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::{Error, Result};

/// The longest password accepted; Argon2 handles more, but nobody needs it
/// and it bounds the work an attacker can ask for.
pub const MAX_PASSWORD_BYTES: usize = 512;

pub fn check_policy(password: &str) -> Result<()> {
    if password.is_empty() {
        return Err(Error::WeakPassword("the password must not be empty".to_owned()));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::InvalidParam(format!("passwords are at most {MAX_PASSWORD_BYTES} bytes")));
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

/// Whether `password` matches `stored`. With no stored hash (unknown user)
/// a dummy hash is checked anyway, so timing does not reveal which
/// usernames exist.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return Err(Error::Internal("a stored password hash does not parse".to_owned()));
        };
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(known && matches)
    })
    .await
    .map_err(|e| Error::Internal(e.to_string()))?
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        Argon2::default().hash_password(b"no such user", &salt).expect("hashing a constant works").to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_hashes_verify_only_the_right_password() {
        let stored = hash("correct horse".to_owned()).await.unwrap();
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify("correct horse".to_owned(), Some(stored.clone())).await.unwrap());
        assert!(!verify("wrong horse".to_owned(), Some(stored)).await.unwrap());
        assert!(!verify("no such user".to_owned(), None).await.unwrap());
    }
}
