//! Where a resource lives: one region of the stack's account, or `global` for kinds whose
//! API is global (IAM, CloudWatch dashboards, Route 53).
//!
//! The desired graph places a resource only when it lives outside the stack's home region
//! (`[stack] region`): [`crate::ResourceSpec::location`] is `None` for the home region.
//! The provider registry turns that into the concrete location that plans and state
//! record (a global kind is `global` wherever it is declared).

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Location {
    /// The kind's API is global: one object for the whole account, reached through the
    /// home region's clients.
    Global,
    /// A region of the stack's account, e.g. `us-west-2`.
    Region(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid location `{0}`: expected `global` or a region name such as `us-west-2`")]
pub struct LocationError(pub String);

impl Location {
    /// A region location.
    pub fn region(name: &str) -> Location {
        Location::Region(name.to_string())
    }

    /// The region, if this is one.
    pub fn region_name(&self) -> Option<&str> {
        match self {
            Location::Global => None,
            Location::Region(r) => Some(r),
        }
    }

    pub fn is_global(&self) -> bool {
        matches!(self, Location::Global)
    }

    /// `global` or a region name: lowercase letters and digits in dash-separated parts,
    /// starting with a letter (`us-east-1`, `us-gov-west-1`, `cn-north-1`).
    pub fn parse(s: &str) -> Result<Location, LocationError> {
        if s == "global" {
            return Ok(Location::Global);
        }
        let ok = s.split('-').count() >= 3
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.split('-')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        if ok {
            Ok(Location::Region(s.to_string()))
        } else {
            Err(LocationError(s.to_string()))
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Global => f.write_str("global"),
            Location::Region(r) => f.write_str(r),
        }
    }
}

impl TryFrom<String> for Location {
    type Error = LocationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Location::parse(&s)
    }
}

impl From<Location> for String {
    fn from(l: Location) -> String {
        l.to_string()
    }
}

/// The partition of a region's ARNs: `aws-cn` for China, `aws-us-gov` for GovCloud,
/// `aws` elsewhere.
pub fn partition(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_regions_and_global() {
        assert_eq!(Location::parse("global"), Ok(Location::Global));
        assert_eq!(Location::parse("us-west-2"), Ok(Location::region("us-west-2")));
        assert_eq!(Location::parse("us-gov-west-1").unwrap().region_name(), Some("us-gov-west-1"));
        for bad in ["", "Global", "us-east", "us--east-1", "1us-east-1", "us-east-1 "] {
            assert!(Location::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn serde_is_the_plain_name() {
        let l: Location = serde_json::from_str("\"eu-west-1\"").unwrap();
        assert_eq!(l, Location::region("eu-west-1"));
        assert_eq!(serde_json::to_string(&Location::Global).unwrap(), "\"global\"");
        assert!(serde_json::from_str::<Location>("\"moon\"").is_err());
    }
}
