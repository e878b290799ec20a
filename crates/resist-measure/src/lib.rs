#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

mod admission;
mod assign;
mod tally;
mod windows;

pub use admission::{AdmissionRules, Refusal};
pub use assign::{ProbesPerNode, plan};
pub use tally::{Tally, throughput_bps};
pub use windows::Windows;

/// Which side of the censor a probe measures from (the side of its region
/// label, `censored:…` or `free:…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// Inside a censored network: its successes are the service grants pay for.
    Censored,
    /// Outside: tells a blocked node from a dead one.
    Free,
}

/// One report, reduced to what classification needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// The probe's side.
    pub side: Side,
    /// Whether the node relayed to the canary for this probe.
    pub relayed: bool,
}

/// A node's status in a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// A censored-region probe relayed through the node.
    Ok,
    /// Censored-region probes failed; a free-region probe relayed.
    Blocked,
    /// Probes failed on both sides (or censored failed and no free report came).
    Down,
    /// No censored-region report.
    Unknown,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 4] = [Status::Ok, Status::Blocked, Status::Down, Status::Unknown];

    /// Stable lower-case name for APIs and pages.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Blocked => "blocked",
            Status::Down => "down",
            Status::Unknown => "unknown",
        }
    }

    /// The status named `name` (as [`Status::as_str`] writes it).
    pub fn from_name(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// The verdict for one node and window, with the counts behind it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The classification.
    pub status: Option<Status>,
    /// Censored-region reports that relayed.
    pub censored_relayed: u32,
    /// Censored-region reports that failed.
    pub censored_failed: u32,
    /// Free-region reports that relayed.
    pub free_relayed: u32,
    /// Free-region reports that failed.
    pub free_failed: u32,
}

impl Verdict {
    /// The status (UNKNOWN for an empty verdict).
    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::Unknown)
    }

    /// Probes of one region disagreed: some relayed, some failed.
    pub fn disagreement(&self) -> bool {
        (self.censored_relayed > 0 && self.censored_failed > 0)
            || (self.free_relayed > 0 && self.free_failed > 0)
    }

    /// Censored probes failed and no free-region report tells a block from an outage.
    pub fn free_missing(&self) -> bool {
        self.censored_failed > 0
            && self.censored_relayed == 0
            && self.free_relayed == 0
            && self.free_failed == 0
    }
}

/// Classifies one node's reports in one window.
pub fn classify(observations: &[Observation]) -> Verdict {
    let mut v = Verdict::default();
    for o in observations {
        let counter = match (o.side, o.relayed) {
            (Side::Censored, true) => &mut v.censored_relayed,
            (Side::Censored, false) => &mut v.censored_failed,
            (Side::Free, true) => &mut v.free_relayed,
            (Side::Free, false) => &mut v.free_failed,
        };
        *counter = counter.saturating_add(1);
    }
    v.status = Some(if v.censored_relayed > 0 {
        Status::Ok
    } else if v.censored_failed == 0 {
        Status::Unknown
    } else if v.free_relayed > 0 {
        Status::Blocked
    } else {
        Status::Down
    });
    v
}

#[cfg(test)]
mod test {
    use super::*;

    const C_OK: Observation = Observation {
        side: Side::Censored,
        relayed: true,
    };
    const C_FAIL: Observation = Observation {
        side: Side::Censored,
        relayed: false,
    };
    const F_OK: Observation = Observation {
        side: Side::Free,
        relayed: true,
    };
    const F_FAIL: Observation = Observation {
        side: Side::Free,
        relayed: false,
    };

    #[test]
    fn table() {
        // (observations, status, disagreement, free_missing)
        let cases: &[(&[Observation], Status, bool, bool)] = &[
            (&[], Status::Unknown, false, false),
            (&[F_OK], Status::Unknown, false, false),
            (&[F_FAIL], Status::Unknown, false, false),
            (&[F_OK, F_FAIL], Status::Unknown, true, false),
            (&[C_OK], Status::Ok, false, false),
            (&[C_OK, C_OK, F_OK], Status::Ok, false, false),
            (&[C_OK, F_FAIL], Status::Ok, false, false),
            (&[C_OK, C_FAIL, F_OK], Status::Ok, true, false),
            (&[C_FAIL, C_OK], Status::Ok, true, false),
            (&[C_FAIL, C_FAIL, F_OK], Status::Blocked, false, false),
            (&[C_FAIL, F_OK, F_FAIL], Status::Blocked, true, false),
            (&[C_FAIL, C_FAIL, F_FAIL], Status::Down, false, false),
            (&[C_FAIL], Status::Down, false, true),
            (&[C_FAIL, C_FAIL], Status::Down, false, true),
        ];
        for (obs, status, disagreement, free_missing) in cases {
            let v = classify(obs);
            assert_eq!(v.status(), *status, "{obs:?}");
            assert_eq!(v.disagreement(), *disagreement, "{obs:?}");
            assert_eq!(v.free_missing(), *free_missing, "{obs:?}");
            let total = v.censored_relayed + v.censored_failed + v.free_relayed + v.free_failed;
            assert_eq!(total as usize, obs.len());
        }
    }

    #[test]
    fn order_does_not_matter() {
        let obs = [C_FAIL, F_OK, C_FAIL, F_FAIL, C_OK];
        let mut rev = obs;
        rev.reverse();
        assert_eq!(classify(&obs), classify(&rev));
    }

    #[test]
    fn one_censored_success_is_enough() {
        // However many failures surround it, a relayed censored report wins,
        // and the failures stay visible as a disagreement.
        let mut obs = vec![C_FAIL; 50];
        obs.push(C_OK);
        obs.extend([F_FAIL; 10]);
        let v = classify(&obs);
        assert_eq!(v.status(), Status::Ok);
        assert!(v.disagreement());
        assert_eq!(v.censored_failed, 50);
    }
}
