//! [`Secret`]: a string that never prints.
//!
//! Client secrets, tokens, passwords and private keys travel through configuration structs,
//! error paths and log lines. Wrapping them in `Secret` makes the safe thing the default: its
//! `Debug` and `Display` print `**redacted**`, so `{:?}` of a whole configuration is safe,
//! and reading the value takes an explicit, greppable [`Secret::expose`]. It deserializes
//! from a plain string but does not serialize, so it cannot be written back out by accident.

use std::fmt;

use serde::Deserialize;

use crate::{ConnectorError, ErrorKind};

/// What `Debug` and `Display` print instead of a secret.
const REDACTED: &str = "**redacted**";

/// A secret string (token, password, private key). Prints as `**redacted**`.
///
/// ```
/// use connector_sdk::Secret;
///
/// let secret = Secret::new("hunter2");
/// assert_eq!(format!("{secret} {secret:?}"), "**redacted** **redacted**");
/// assert_eq!(secret.expose(), "hunter2");
/// ```
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// Reads the environment variable `name`. The error names the variable, never its value;
    /// an unset, empty or non-Unicode variable is a `Permanent` error (configuration).
    pub fn from_env(name: &str) -> Result<Self, ConnectorError> {
        match std::env::var(name) {
            Ok(value) if value.is_empty() => Err(ConnectorError::new(
                ErrorKind::Permanent,
                format!("environment variable {name} is empty"),
            )),
            Ok(value) => Ok(Secret(value)),
            Err(std::env::VarError::NotPresent) => Err(ConnectorError::new(
                ErrorKind::Permanent,
                format!("environment variable {name} is not set"),
            )),
            Err(std::env::VarError::NotUnicode(_)) => Err(ConnectorError::new(
                ErrorKind::Permanent,
                format!("environment variable {name} is not valid unicode"),
            )),
        }
    }

    /// The value. Every call site is a place where the secret leaves its wrapper: keep it
    /// out of messages and logs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALUE: &str = "s3cr3t-value-42";

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)] // Read only through `Debug`.
    struct Config {
        user: String,
        password: Secret,
        tokens: Vec<Secret>,
        maybe: Option<Secret>,
    }

    /// Every way of formatting `text` must hide the secret and show the marker.
    fn check_hidden(text: &str) {
        assert!(!text.contains(VALUE), "secret leaked: {text}");
        assert!(text.contains(REDACTED), "no redaction marker: {text}");
    }

    #[test]
    fn formatting_never_shows_the_value() {
        let secret = Secret::new(VALUE);
        check_hidden(&format!("{secret}"));
        check_hidden(&format!("{secret:?}"));
        check_hidden(&format!("{secret:#?}"));
        check_hidden(&format!("{secret:>40}"));
        check_hidden(&secret.to_string());
        assert_eq!(secret.expose(), VALUE);
    }

    #[test]
    fn structs_holding_secrets_debug_without_them() {
        let json = format!(
            r#"{{"user": "alice", "password": "{VALUE}", "tokens": ["{VALUE}"], "maybe": "{VALUE}"}}"#
        );
        let config: Config = serde_json::from_str(&json).expect("config parses");
        assert_eq!(config.password.expose(), VALUE);
        assert_eq!(config.tokens[0].expose(), VALUE);
        check_hidden(&format!("{config:?}"));
        check_hidden(&format!("{config:#?}"));
        assert!(format!("{config:?}").contains("alice"));
    }

    #[test]
    fn from_env_names_the_variable_not_the_value() {
        let missing = Secret::from_env("TRIBUTARY_SDK_TEST_SURELY_UNSET_VARIABLE")
            .expect_err("unset variable");
        assert_eq!(missing.kind, ErrorKind::Permanent);
        assert_eq!(
            missing.message,
            "environment variable TRIBUTARY_SDK_TEST_SURELY_UNSET_VARIABLE is not set"
        );
        // Variables every test process has: read one and compare with std's own reading.
        let path = Secret::from_env("PATH").expect("PATH is set");
        assert_eq!(Some(path.expose()), std::env::var("PATH").ok().as_deref());
        assert!(!format!("{path:?} {path}").contains(path.expose()));
    }
}
