//! Region labels of probes: which side of a censor a vantage point sits on,
//! and where. Classification (OK / BLOCKED) depends on the side, so the label
//! is parsed, not trusted as free text.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Invalid;

/// Whether a probe measures from inside a censored network or from outside:
/// the measurement vocabulary's own type, so a region's side is what
/// classification takes.
pub use resist_measure::Side;

/// A probe's region, e.g. `censored:RU` or `free:DE`, optionally with a
/// sub-label (`censored:RU-MOW`, `free:DE-fra1`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region {
    side: Side,
    /// The ISO 3166-1 alpha-2 country code, upper case.
    country: String,
    /// Optional `-suffix`, 1–16 characters of [A-Za-z0-9].
    detail: Option<String>,
}

impl Region {
    /// Which side of the censor the probe is on.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The country code.
    pub fn country(&self) -> &str {
        &self.country
    }
}

impl FromStr for Region {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Invalid> {
        let bad = || {
            Invalid::new(
                "region",
                format!(
                    "{s:?} is not a region label; write `censored:CC` or `free:CC` with a \
                     two-letter country code, e.g. `censored:RU`, optionally with a suffix \
                     such as `free:DE-fra1`"
                ),
            )
        };
        let (side, rest) = s.split_once(':').ok_or_else(bad)?;
        let side = match side {
            "censored" => Side::Censored,
            "free" => Side::Free,
            _ => return Err(bad()),
        };
        let (country, detail) = match rest.split_once('-') {
            Some((c, d)) => (c, Some(d)),
            None => (rest, None),
        };
        if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        if let Some(d) = detail
            && (d.is_empty() || d.len() > 16 || !d.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(bad());
        }
        Ok(Region {
            side,
            country: country.to_owned(),
            detail: detail.map(str::to_owned),
        })
    }
}

impl TryFrom<String> for Region {
    type Error = Invalid;
    fn try_from(s: String) -> Result<Self, Invalid> {
        s.parse()
    }
}

impl From<Region> for String {
    fn from(r: Region) -> String {
        r.to_string()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = match self.side {
            Side::Censored => "censored",
            Side::Free => "free",
        };
        write!(f, "{side}:{}", self.country)?;
        if let Some(d) = &self.detail {
            write!(f, "-{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_and_prints_labels() {
        for s in ["censored:RU", "free:DE", "censored:RU-MOW", "free:DE-fra1"] {
            let r: Region = s.parse().unwrap();
            assert_eq!(r.to_string(), s);
        }
        assert_eq!(
            "censored:RU".parse::<Region>().unwrap().side(),
            Side::Censored
        );
        assert_eq!("free:NL".parse::<Region>().unwrap().side(), Side::Free);
    }

    #[test]
    fn refuses_malformed_labels() {
        for s in [
            "",
            "RU",
            "censored",
            "censored:",
            "censored:ru",
            "censored:RUS",
            "blocked:RU",
            "free:DE-",
            "free:DE-a_b",
            "free:DE-0123456789abcdefg",
            " free:DE",
        ] {
            let e = s.parse::<Region>().unwrap_err();
            assert_eq!(e.field, "region", "{s:?}");
            assert!(e.problem.contains("censored:RU"), "{s:?}: {e}");
        }
    }
}
