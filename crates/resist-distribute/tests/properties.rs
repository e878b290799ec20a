//! The distributor's promises, as properties over random secrets and node
//! sets (proptest), and the same promises measured at the default size
//! (1024 buckets, 3 nodes each) with the numbers printed:
//! `cargo test -p resist-distribute --test properties -- --nocapture`.
//!
//! - stability: adding or removing one node changes each bucket by at most
//!   one node, and only the buckets the node enters or leaves;
//! - a node no longer eligible (blocked) is in no bucket, and its
//!   replacement in each bucket is the same whatever the order of the list,
//!   stays when other buckets change, and gives way when the node returns;
//! - spread: no node is in far more buckets than its share;
//! - subnets: a bucket holds as many distinct /24s as it can;
//! - enumeration cost: k keys see at most k buckets, k × per_bucket nodes.

use std::collections::{BTreeSet, HashMap, HashSet};

use proptest::prelude::*;
use resist_distribute::{Bucket, Candidate, Distributor, Params, RequesterKey, Subnet};

/// `n` nodes with ids 1..=n, node i in /24 number `subnet_of(i)`.
fn nodes(n: u64, subnet_of: impl Fn(u64) -> u64) -> Vec<Candidate> {
    (1..=n)
        .map(|id| {
            let s = subnet_of(id);
            Candidate {
                id,
                subnet: Subnet::of_host(&format!("10.{}.{}.{}", s / 256, s % 256, id % 250 + 1)),
            }
        })
        .collect()
}

/// Each node in its own /24.
fn distinct(n: u64) -> Vec<Candidate> {
    nodes(n, |id| id)
}

fn ids(d: &Distributor, b: Bucket, nodes: &[Candidate]) -> BTreeSet<u64> {
    d.bucket_nodes(b, nodes).iter().map(|n| n.id).collect()
}

fn all_buckets(d: &Distributor) -> impl Iterator<Item = Bucket> {
    (0..d.params().buckets).map(Bucket)
}

fn without(nodes: &[Candidate], id: u64) -> Vec<Candidate> {
    nodes.iter().filter(|n| n.id != id).cloned().collect()
}

/// How many of all (bucket, node) assignments differ between two node sets.
fn moved(d: &Distributor, before: &[Candidate], after: &[Candidate]) -> (usize, usize) {
    let mut changed = 0;
    let mut total = 0;
    for b in all_buckets(d) {
        let old = ids(d, b, before);
        let new = ids(d, b, after);
        changed += old.difference(&new).count();
        total += old.len();
    }
    (changed, total)
}

fn secret() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Removing one node (a block) takes it out of every bucket; each bucket
    /// that held it gets exactly one other node (while there are enough),
    /// and no other bucket changes. Adding it back restores every bucket.
    #[test]
    fn one_node_leaves_and_returns(
        key in secret(),
        n in 1u64..60,
        subnets in 1u64..40,
        per_bucket in 1usize..5,
        pick in any::<prop::sample::Index>(),
    ) {
        let d = Distributor::new(&key, Params { buckets: 64, per_bucket }).unwrap();
        let all = nodes(n, |id| id % subnets);
        let gone = all[pick.index(all.len())].id;
        let rest = without(&all, gone);
        for b in all_buckets(&d) {
            let old = ids(&d, b, &all);
            let new = ids(&d, b, &rest);
            prop_assert!(!new.contains(&gone));
            if old.contains(&gone) {
                let left: Vec<_> = old.difference(&new).collect();
                prop_assert_eq!(left, vec![&gone]);
                let came = new.difference(&old).count();
                prop_assert_eq!(came, usize::from(rest.len() >= per_bucket));
            } else {
                prop_assert_eq!(&old, &new);
            }
            // The node comes back: the bucket is as it was.
            prop_assert_eq!(ids(&d, b, &all), old);
        }
    }

    /// A replacement does not depend on the order nodes are listed in, and
    /// stays put when a node of no concern to its bucket leaves too.
    #[test]
    fn replacements_are_stable(
        key in secret(),
        n in 5u64..60,
        subnets in 1u64..40,
        seed in any::<u64>(),
    ) {
        let d = Distributor::new(&key, Params { buckets: 64, per_bucket: 3 }).unwrap();
        let all = nodes(n, |id| id % subnets);
        let blocked = 1 + seed % n;
        let rest = without(&all, blocked);
        let mut shuffled = rest.clone();
        let turn = usize::try_from(seed % 7).unwrap() % shuffled.len().max(1);
        shuffled.rotate_left(turn);
        shuffled.reverse();
        for b in all_buckets(&d) {
            let after = ids(&d, b, &rest);
            prop_assert_eq!(&ids(&d, b, &shuffled), &after);
            // Another node, in neither the old nor the new answer, leaves:
            // this bucket keeps its replacement.
            let before = ids(&d, b, &all);
            if let Some(other) = rest.iter().map(|c| c.id).find(|id| !before.contains(id) && !after.contains(id)) {
                prop_assert_eq!(ids(&d, b, &without(&rest, other)), after);
            }
        }
    }

    /// A bucket holds min(per_bucket, subnets available) distinct subnets,
    /// and never a node twice.
    #[test]
    fn buckets_spread_over_subnets(
        key in secret(),
        n in 1u64..60,
        subnets in 1u64..10,
        per_bucket in 1usize..6,
    ) {
        let d = Distributor::new(&key, Params { buckets: 64, per_bucket }).unwrap();
        let all = nodes(n, |id| id % subnets);
        let available = all.iter().map(|c| &c.subnet).collect::<HashSet<_>>().len();
        for b in all_buckets(&d) {
            let got = d.bucket_nodes(b, &all);
            prop_assert_eq!(got.len(), per_bucket.min(all.len()));
            let ids: HashSet<_> = got.iter().map(|c| c.id).collect();
            prop_assert_eq!(ids.len(), got.len());
            let distinct = got.iter().map(|c| &c.subnet).collect::<HashSet<_>>().len();
            prop_assert_eq!(distinct, per_bucket.min(available));
        }
    }

    /// Whatever k keys a requester controls, it sees the nodes of at most k
    /// buckets: at most k × per_bucket nodes, exactly the union of what
    /// those buckets hold.
    #[test]
    fn k_keys_see_at_most_k_buckets(
        key in secret(),
        n in 1u64..200,
        keys in prop::collection::vec(
            prop_oneof![
                any::<[u8; 2]>().prop_map(RequesterKey::V4),
                any::<[u8; 4]>().prop_map(RequesterKey::V6),
                any::<u64>().prop_map(RequesterKey::Invitation),
            ],
            1..20,
        ),
    ) {
        let d = Distributor::new(&key, Params::default()).unwrap();
        let all = distinct(n);
        let seen: BTreeSet<u64> = keys.iter().flat_map(|k| d.answer(k, &all)).collect();
        let buckets: BTreeSet<Bucket> = keys.iter().map(|k| d.bucket_of(k)).collect();
        prop_assert!(buckets.len() <= keys.len());
        let held: BTreeSet<u64> = buckets.iter().flat_map(|&b| ids(&d, b, &all)).collect();
        prop_assert_eq!(&seen, &held);
        prop_assert!(seen.len() <= keys.len() * 3);
    }

    /// Every address of one /16 (or IPv6 /32) gets the same answer.
    #[test]
    fn one_network_one_answer(
        key in secret(),
        a in any::<[u8; 2]>(),
        x in any::<[u8; 2]>(),
        y in any::<[u8; 2]>(),
    ) {
        let d = Distributor::new(&key, Params::default()).unwrap();
        let all = distinct(50);
        let ip = |tail: [u8; 2]| std::net::IpAddr::from([a[0], a[1], tail[0], tail[1]]);
        prop_assert_eq!(
            d.answer(&RequesterKey::of_addr(ip(x)), &all),
            d.answer(&RequesterKey::of_addr(ip(y)), &all)
        );
    }
}

/// Measured at the default size: the share of assignments that move when
/// one node joins or leaves (the ideal is the node's own share, 1/n).
#[test]
fn stability_at_default_size() {
    let d = Distributor::new(&[0x5e; 32], Params::default()).unwrap();
    for n in [20u64, 100, 300] {
        let all = distinct(n);
        let fewer = without(&all, n / 2);
        let (left, total) = moved(&d, &all, &fewer);
        let more = distinct(n + 1);
        let (joined, _) = moved(&d, &more, &all);
        let ideal = 1.0 / n as f64;
        let left_f = left as f64 / total as f64;
        let joined_f = joined as f64 / total as f64;
        println!(
            "stability n={n:>3}: one node leaves → {left}/{total} assignments move ({:.2}%), one joins → {joined} ({:.2}%); its fair share is {:.2}%",
            100.0 * left_f,
            100.0 * joined_f,
            100.0 * ideal
        );
        // Only the node's own assignments move, and it holds about its share.
        assert!(left_f < 2.0 * ideal, "{left}/{total}");
        assert!(joined_f < 2.0 * ideal, "{joined}/{total}");
    }
}

/// Measured at the default size: buckets per node against the fair share.
#[test]
fn spread_at_default_size() {
    let d = Distributor::new(&[0x5b; 32], Params::default()).unwrap();
    for n in [10u64, 50, 100, 200] {
        let all = distinct(n);
        let mut load: HashMap<u64, usize> = HashMap::new();
        for b in all_buckets(&d) {
            for id in ids(&d, b, &all) {
                *load.entry(id).or_default() += 1;
            }
        }
        let avg = 1024.0 * 3.0 / n as f64;
        let max = load.values().copied().max().unwrap_or(0);
        let min = (1..=n)
            .map(|id| load.get(&id).copied().unwrap_or(0))
            .min()
            .unwrap_or(0);
        println!(
            "spread n={n:>3}: buckets per node min {min}, avg {avg:.1}, max {max} (max/avg {:.2})",
            max as f64 / avg
        );
        assert!((max as f64) < 2.0 * avg, "max {max} avg {avg}");
        assert!(min > 0, "every node is handed out");
    }
}

/// Measured at the default size: how many requester keys (random /16s) a
/// censor needs to learn a half, 90% and all of the nodes.
#[test]
fn enumeration_cost_at_default_size() {
    let d = Distributor::new(&[0xec; 32], Params::default()).unwrap();
    for n in [30u64, 100, 300] {
        let all = distinct(n);
        let mut seen = HashSet::new();
        let mut marks = Vec::new();
        let targets = [n.div_ceil(2), (n * 9).div_ceil(10), n];
        // /16s in a fixed pseudo-random order (multiplicative hashing).
        for k in 1u32..=65_536 {
            let net = u16::try_from(k.wrapping_mul(40_503) % 65_536).unwrap();
            seen.extend(d.answer(&RequesterKey::V4(net.to_be_bytes()), &all));
            while marks.len() < targets.len() && seen.len() as u64 >= targets[marks.len()] {
                marks.push(k);
            }
            if marks.len() == targets.len() {
                break;
            }
            assert!(seen.len() <= 3 * k as usize);
        }
        println!(
            "enumeration n={n:>3}: /16s needed to learn 50% {}, 90% {}, 100% {} (a user's /16 sees 3)",
            marks[0], marks[1], marks[2]
        );
        // At least a third of the nodes' worth of keys for half of them: no
        // shortcut below k × 3.
        assert!(u64::from(marks[0]) * 3 >= n / 2);
        assert!(u64::from(marks[2]) * 3 >= n);
    }
}
