#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(clippy::unwrap_used)]

use std::collections::HashSet;
use std::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

mod key;
mod subnet;

pub use key::RequesterKey;
pub use subnet::Subnet;

/// Most buckets a distributor may have (a million: far more than a network
/// has nodes; more buckets only leave nodes unused).
pub const MAX_BUCKETS: u32 = 1 << 20;
/// Most nodes one bucket may show.
pub const MAX_PER_BUCKET: usize = 16;
/// Buckets by default: at least as many as a volunteer network is expected
/// to have nodes, so that every node is in some bucket (see the README).
pub const DEFAULT_BUCKETS: u32 = 1024;
/// Nodes per bucket by default: enough for a user to fail over, few enough
/// that one requester learns little (BridgeDB answers with 3 too).
pub const DEFAULT_PER_BUCKET: usize = 3;

/// Domain separation of the two keyed hashes.
const BUCKET_TAG: &[u8] = b"resist-distribute/v1/bucket";
const SCORE_TAG: &[u8] = b"resist-distribute/v1/score";

/// How requesters are partitioned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// How many buckets requester keys are hashed into.
    pub buckets: u32,
    /// How many nodes each bucket shows.
    pub per_bucket: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            buckets: DEFAULT_BUCKETS,
            per_bucket: DEFAULT_PER_BUCKET,
        }
    }
}

/// Parameters out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamsError {
    /// `buckets` is 0 or above [`MAX_BUCKETS`].
    #[error("buckets must be 1 to {MAX_BUCKETS}, not {0}")]
    Buckets(u32),
    /// `per_bucket` is 0 or above [`MAX_PER_BUCKET`].
    #[error("nodes per bucket must be 1 to {MAX_PER_BUCKET}, not {0}")]
    PerBucket(usize),
}

/// One of a distributor's buckets, `0..buckets`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bucket(pub u32);

/// A node that may be handed out (its latest status is OK).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Candidate {
    /// A stable id (the coordinator's node id): scores are computed from it,
    /// so a node keeps its buckets when its address changes.
    pub id: u64,
    /// Where it is, for spreading a bucket across subnets.
    pub subnet: Subnet,
}

/// Maps requester keys to buckets and buckets to nodes, under a secret.
#[derive(Clone)]
pub struct Distributor {
    /// HMAC-SHA-256 keyed with the secret; cloned for each hash.
    mac: Hmac<Sha256>,
    params: Params,
}

impl fmt::Debug for Distributor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Distributor")
            .field("secret", &"[redacted]")
            .field("params", &self.params)
            .finish()
    }
}

impl Distributor {
    /// A distributor keyed with `secret` (32 random bytes the coordinator
    /// keeps; whoever knows it can tell which keys share a bucket).
    pub fn new(secret: &[u8; 32], params: Params) -> Result<Self, ParamsError> {
        if params.buckets == 0 || params.buckets > MAX_BUCKETS {
            return Err(ParamsError::Buckets(params.buckets));
        }
        if params.per_bucket == 0 || params.per_bucket > MAX_PER_BUCKET {
            return Err(ParamsError::PerBucket(params.per_bucket));
        }
        // HMAC takes keys of any length: this cannot fail.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .map_err(|_| ParamsError::Buckets(params.buckets))?;
        Ok(Distributor { mac, params })
    }

    /// The parameters.
    pub fn params(&self) -> Params {
        self.params
    }

    /// The first 8 bytes of HMAC(secret, tag ‖ parts…), as a number.
    fn hash(&self, tag: &[u8], parts: &[&[u8]]) -> u64 {
        let mut mac = self.mac.clone();
        mac.update(tag);
        for p in parts {
            mac.update(p);
        }
        let out = mac.finalize().into_bytes();
        let mut first = [0u8; 8];
        first.copy_from_slice(&out[..8]);
        u64::from_be_bytes(first)
    }

    /// The bucket of `key`. The modulo bias is below 2⁻⁴⁴ for any allowed
    /// bucket count.
    pub fn bucket_of(&self, key: &RequesterKey) -> Bucket {
        let (bytes, len) = key.encode();
        let h = self.hash(BUCKET_TAG, &[&bytes[..len]]);
        let b = h % u64::from(self.params.buckets);
        // `b` < buckets ≤ u32::MAX.
        Bucket(u32::try_from(b).unwrap_or(0))
    }

    /// The node's score in `bucket`: higher is preferred.
    fn score(&self, bucket: Bucket, node: u64) -> u64 {
        self.hash(SCORE_TAG, &[&bucket.0.to_be_bytes(), &node.to_be_bytes()])
    }

    /// The nodes `bucket` shows, best first: up to `per_bucket` of `nodes`
    /// by rendezvous score, each from a different subnet while there are
    /// enough subnets, then the best remaining ones. A node listed twice
    /// counts once.
    pub fn bucket_nodes<'a>(&self, bucket: Bucket, nodes: &'a [Candidate]) -> Vec<&'a Candidate> {
        let mut ranked: Vec<(u64, &Candidate)> = nodes
            .iter()
            .map(|n| (self.score(bucket, n.id), n))
            .collect();
        // Highest score first; ties to the lower id, so the order of `nodes`
        // never matters.
        ranked.sort_unstable_by(|(sa, a), (sb, b)| sb.cmp(sa).then(a.id.cmp(&b.id)));
        let want = self.params.per_bucket;
        let mut chosen: Vec<&Candidate> = Vec::with_capacity(want);
        let mut ids = HashSet::with_capacity(want);
        let mut subnets = HashSet::with_capacity(want);
        let mut skipped = Vec::new();
        for &(_, n) in &ranked {
            if chosen.len() == want {
                break;
            }
            if ids.contains(&n.id) {
                continue;
            }
            if subnets.contains(&n.subnet) {
                skipped.push(n);
                continue;
            }
            ids.insert(n.id);
            subnets.insert(&n.subnet);
            chosen.push(n);
        }
        for n in skipped {
            if chosen.len() == want {
                break;
            }
            if ids.insert(n.id) {
                chosen.push(n);
            }
        }
        chosen
    }

    /// The ids of the nodes shown to `key`, best first.
    pub fn answer(&self, key: &RequesterKey, nodes: &[Candidate]) -> Vec<u64> {
        self.bucket_nodes(self.bucket_of(key), nodes)
            .into_iter()
            .map(|n| n.id)
            .collect()
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn node(id: u64, host: &str) -> Candidate {
        Candidate {
            id,
            subnet: Subnet::of_host(host),
        }
    }

    fn distributor(per_bucket: usize) -> Distributor {
        Distributor::new(
            &[7; 32],
            Params {
                buckets: 64,
                per_bucket,
            },
        )
        .unwrap()
    }

    #[test]
    fn parameters_are_checked() {
        for (buckets, per_bucket, ok) in [
            (1, 1, true),
            (MAX_BUCKETS, MAX_PER_BUCKET, true),
            (0, 3, false),
            (MAX_BUCKETS + 1, 3, false),
            (1024, 0, false),
            (1024, MAX_PER_BUCKET + 1, false),
        ] {
            let r = Distributor::new(
                &[0; 32],
                Params {
                    buckets,
                    per_bucket,
                },
            );
            assert_eq!(r.is_ok(), ok, "{buckets} {per_bucket}: {r:?}");
        }
        let e = Distributor::new(
            &[0; 32],
            Params {
                buckets: 0,
                per_bucket: 3,
            },
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "buckets must be 1 to 1048576, not 0");
    }

    #[test]
    fn debug_hides_the_secret() {
        let shown = format!("{:?}", distributor(3));
        assert!(
            shown.contains("[redacted]") && !shown.contains('7'),
            "{shown}"
        );
    }

    /// Table: (nodes, per bucket, how many come back, distinct subnets among them).
    #[test]
    fn answers_by_table() {
        let spread = [
            node(1, "198.51.100.1"),
            node(2, "198.51.100.2"),
            node(3, "198.51.100.3"),
            node(4, "203.0.113.1"),
            node(5, "203.0.113.2"),
            node(6, "2001:db8:1::1"),
            node(7, "proxy.example.org"),
        ];
        let one_subnet: Vec<Candidate> =
            (1..=5).map(|i| node(i, &format!("192.0.2.{i}"))).collect();
        let cases: [(&[Candidate], usize, usize, usize); 7] = [
            (&[], 3, 0, 0),
            (&spread[..1], 3, 1, 1),
            (&spread[..3], 3, 3, 1),
            (&spread, 3, 3, 3),
            (&spread, 4, 4, 4),
            (&spread, 1, 1, 1),
            (&one_subnet, 3, 3, 1),
        ];
        for (nodes, per_bucket, count, subnets) in cases {
            let d = distributor(per_bucket);
            for key in [
                RequesterKey::V4([10, 1]),
                RequesterKey::V6([0x20, 1, 0xd, 0xb8]),
                RequesterKey::Invitation(9),
            ] {
                let got = d.bucket_nodes(d.bucket_of(&key), nodes);
                assert_eq!(got.len(), count, "{nodes:?} {per_bucket}");
                let distinct: HashSet<_> = got.iter().map(|n| &n.subnet).collect();
                assert_eq!(distinct.len(), subnets, "{got:?}");
                let ids: HashSet<_> = got.iter().map(|n| n.id).collect();
                assert_eq!(ids.len(), count, "no node twice: {got:?}");
            }
        }
    }

    #[test]
    fn order_and_duplicates_of_the_input_do_not_matter() {
        let d = distributor(3);
        let nodes: Vec<Candidate> = (1..=20)
            .map(|i| node(i, &format!("198.51.{i}.1")))
            .collect();
        let mut reversed = nodes.clone();
        reversed.reverse();
        let mut doubled = nodes.clone();
        doubled.extend(nodes.iter().cloned());
        for b in 0..64 {
            let a: Vec<u64> = d
                .bucket_nodes(Bucket(b), &nodes)
                .iter()
                .map(|n| n.id)
                .collect();
            let r: Vec<u64> = d
                .bucket_nodes(Bucket(b), &reversed)
                .iter()
                .map(|n| n.id)
                .collect();
            let twice: Vec<u64> = d
                .bucket_nodes(Bucket(b), &doubled)
                .iter()
                .map(|n| n.id)
                .collect();
            assert_eq!(a, r);
            assert_eq!(a, twice);
        }
    }

    #[test]
    fn the_secret_decides() {
        let nodes: Vec<Candidate> = (1..=50)
            .map(|i| node(i, &format!("198.51.{i}.1")))
            .collect();
        let a = Distributor::new(&[1; 32], Params::default()).unwrap();
        let b = Distributor::new(&[2; 32], Params::default()).unwrap();
        let keys: Vec<RequesterKey> = (0..=255).map(|i| RequesterKey::V4([i, 0])).collect();
        let differ = keys
            .iter()
            .filter(|k| a.answer(k, &nodes) != b.answer(k, &nodes))
            .count();
        assert!(differ > 200, "only {differ} of 256 answers changed");
    }
}
