//! [`Secret`]: a configured string that never prints.

use std::fmt;

use serde::Deserialize;

/// A token, password or key from the configuration. `Debug` and `Display` print
/// `**redacted**`, so a config struct that derives `Debug`, or a message that formats the
/// value by mistake, never shows it; read it with [`Secret::expose`] where it is sent.
///
/// ```
/// use connector_sdk::Secret;
///
/// let token = Secret::new("xoxb-123");
/// assert_eq!(format!("{token} {token:?}"), "**redacted** **redacted**");
/// assert_eq!(token.expose(), "xoxb-123");
/// ```
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself, for the request that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty (a check that prints nothing of it).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**redacted**")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**redacted**")
    }
}
