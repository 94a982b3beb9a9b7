//! The one error type of every service. Each variant is a Matrix error
//! condition; `nexus-api` maps it to an errcode and HTTP status.

use std::time::Duration;

use crate::uia::UiaChallenge;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Forbidden(String),
    #[error("unknown or expired access token")]
    UnknownToken { soft_logout: bool },
    #[error("no access token was given")]
    MissingToken,
    /// The account is locked (spec: "Account locking"): 401, `soft_logout`.
    #[error("This account has been locked")]
    UserLocked,
    /// The account is suspended and the action is one it may not take.
    #[error("{0}")]
    UserSuspended(String),
    #[error("{0}")]
    NotFound(String),
    /// A sliding sync `pos` this server does not know (any more).
    #[error("{0}")]
    UnknownPos(String),
    #[error("that user id is already taken")]
    UserInUse,
    #[error("{0}")]
    InvalidUsername(String),
    #[error("guest access is disabled on this server")]
    GuestAccessForbidden,
    #[error("too many requests")]
    LimitExceeded { retry_after: Duration },
    #[error("{0}")]
    InvalidParam(String),
    #[error("{0}")]
    MissingParam(String),
    #[error("{0}")]
    BadJson(String),
    #[error("{0}")]
    NotJson(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Unrecognized(String),
    /// A request the server understood but cannot act on, with no more
    /// specific errcode (400 `M_UNKNOWN`).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    InvalidSignature(String),
    #[error("that backup version is not the current one")]
    WrongRoomKeysVersion { current: Option<String> },
    #[error("{0}")]
    CannotOverwriteMedia(String),
    #[error("{0}")]
    NotYetUploaded(String),
    /// Data the server controls and clients may not write (405 M_BAD_JSON).
    #[error("{0}")]
    ServerControlled(String),
    #[error("{0}")]
    UnsupportedRoomVersion(String),
    #[error("{0}")]
    RoomInUse(String),
    /// `PUT /directory/room/{alias}` for an alias that exists (409).
    #[error("{0}")]
    AliasExists(String),
    /// A second annotation with the same key by the same sender on the
    /// same event (spec: "Avoiding duplicate annotations").
    #[error("{0}")]
    DuplicateAnnotation(String),
    #[error("{0}")]
    InvalidRoomState(String),
    #[error("{0}")]
    ThreepidMediumNotSupported(String),
    #[error("{0}")]
    WeakPassword(String),
    #[error("{0}")]
    UserDeactivated(String),
    /// User-interactive authentication is needed, or a stage failed.
    #[error("additional authentication is required")]
    AuthRequired(Box<UiaChallenge>),
    /// A server-server request without valid X-Matrix authentication.
    #[error("{0}")]
    Unauthorized(String),
    /// Another server failed or refused what this one needed from it.
    #[error("{0}")]
    Remote(String),
    #[error("{0}")]
    IncompatibleRoomVersion(String),
    /// A delayed event (MSC4140) asked for a longer delay than allowed.
    #[error("the requested delay exceeds the allowed maximum")]
    MaxDelayExceeded { max_delay: Duration },
    /// A user id or alias in an application service's exclusive namespace.
    #[error("{0}")]
    Exclusive(String),
    /// An appservice masquerading as a device its user does not have.
    #[error("{0}")]
    UnknownDevice(String),
    /// MSC4190: this appservice manages devices itself and may not log in.
    #[error("{0}")]
    AppserviceLoginUnsupported(String),
    #[error("the application service has no URL configured")]
    AppserviceUrlNotSet,
    #[error("the application service answered {status}")]
    AppserviceBadStatus { status: u16, body: String },
    #[error("could not reach the application service: {0}")]
    AppserviceConnectionFailed(String),
    #[error("the connection to the application service timed out")]
    AppserviceTimeout,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<nexus_storage::Error> for Error {
    fn from(e: nexus_storage::Error) -> Self {
        if let nexus_storage::Error::Busy(detail) = &e {
            // A lock held past the wait bound: the request may succeed a
            // moment later, so the client is told to retry.
            tracing::warn!(detail, "storage busy");
            return Error::LimitExceeded { retry_after: std::time::Duration::from_secs(1) };
        }
        tracing::error!(error = %e, "storage failure");
        Error::Internal("storage failure".to_owned())
    }
}

impl From<nexus_search::Error> for Error {
    fn from(e: nexus_search::Error) -> Self {
        match e {
            nexus_search::Error::BadCursor(detail) => Error::InvalidParam(detail),
            e @ nexus_search::Error::ReadOnly => Error::Forbidden(e.to_string()),
            e => {
                tracing::error!(error = %e, "search index failure");
                Error::Internal("search index failure".to_owned())
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
