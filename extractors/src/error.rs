//! Extraction errors.

use std::fmt;

/// Why a document could not be extracted. The names are stable: run reports and
/// `tributary extract` `.err` files use [`ErrorKind::as_str`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A format we do not extract (yet), or binary content posing as text.
    Unsupported,
    /// The bytes are not a valid instance of their format.
    Corrupt,
    /// The document needs a password.
    Encrypted,
    /// Input, nesting or output over a limit.
    TooLarge,
    /// Over the time budget.
    Timeout,
}

impl ErrorKind {
    /// The stable short name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Corrupt => "corrupt",
            ErrorKind::Encrypted => "encrypted",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Timeout => "timeout",
        }
    }
}

/// An extraction failure: a kind and a lowercase message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Details, lowercase, no trailing period.
    pub message: String,
}

impl ExtractError {
    /// A new error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ExtractError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for ExtractError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.message)
    }
}

impl std::error::Error for ExtractError {}
