//! Stable resource addresses such as `subnet.app.us-east-1a`.
//!
//! An address is keyed by role and availability zone, never by a list index, so adding an
//! AZ or a service does not renumber anything else.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid address `{0}`: expected dot-separated segments of [a-z0-9_-], at least two")]
pub struct AddressError(pub String);

impl Address {
    /// Builds an address from segments, e.g. `["subnet", "app", "us-east-1a"]`.
    pub fn from_segments<I, S>(segments: I) -> Result<Self, AddressError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let joined = segments.into_iter().map(|s| s.as_ref().to_string()).collect::<Vec<_>>().join(".");
        Self::parse(&joined)
    }

    pub fn parse(s: &str) -> Result<Self, AddressError> {
        let segments: Vec<&str> = s.split('.').collect();
        let ok = segments.len() >= 2
            && segments.iter().all(|seg| {
                !seg.is_empty()
                    && seg
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
            });
        if ok {
            Ok(Address(s.to_string()))
        } else {
            Err(AddressError(s.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Address {
    type Error = AddressError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Address::parse(&s)
    }
}

impl From<Address> for String {
    fn from(a: Address) -> String {
        a.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_addresses() {
        let a = Address::parse("subnet.app.us-east-1a").unwrap();
        assert_eq!(a.to_string(), "subnet.app.us-east-1a");
        let b = Address::from_segments(["route", "private", "us-east-1b", "default"]).unwrap();
        assert_eq!(b.as_str(), "route.private.us-east-1b.default");
    }

    #[test]
    fn rejects_invalid_addresses() {
        for bad in ["vpc", "", "vpc..main", "Vpc.main", "vpc.ma in", "vpc.main."] {
            assert!(Address::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn serde_round_trip_validates() {
        let a: Address = serde_json::from_str("\"sg.app\"").unwrap();
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"sg.app\"");
        assert!(serde_json::from_str::<Address>("\"nope\"").is_err());
    }
}
