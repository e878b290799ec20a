//! Which probes test which node in a window.
//!
//! Probes must not choose what they test, or one of them could collude with
//! an operator: the coordinator draws, for every node, distinct probes from
//! the censored and from the free regions at random. The draw is a pure
//! function of its inputs and the random source, so a simulator can replay it
//! with a seeded generator.

use rand::seq::IndexedRandom;

/// How many probes of each side every node gets per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbesPerNode {
    /// From censored regions.
    pub censored: usize,
    /// From free regions.
    pub free: usize,
}

/// Chooses, for every node, up to `per.censored` distinct probes of
/// `censored` and up to `per.free` distinct probes of `free`, at random.
/// Returns the `(node, probe)` pairs, node by node.
pub fn plan<N: Copy, P: Copy>(
    nodes: &[N],
    censored: &[P],
    free: &[P],
    per: ProbesPerNode,
    rng: &mut impl rand::Rng,
) -> Vec<(N, P)> {
    let mut out = Vec::with_capacity(nodes.len().saturating_mul(per.censored + per.free));
    for &node in nodes {
        for (pool, n) in [(censored, per.censored), (free, per.free)] {
            out.extend(pool.choose_multiple(rng, n).map(|&p| (node, p)));
        }
    }
    out
}

#[cfg(test)]
mod test {
    use std::collections::{HashMap, HashSet};

    use rand::SeedableRng;

    use super::*;

    const TWO_AND_ONE: ProbesPerNode = ProbesPerNode {
        censored: 2,
        free: 1,
    };

    #[test]
    fn every_node_gets_distinct_probes_from_each_side() {
        let nodes: Vec<u32> = (1..=50).collect();
        let censored: Vec<u32> = (1..=5).collect();
        let free: Vec<u32> = (6..=8).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let p = plan(&nodes, &censored, &free, TWO_AND_ONE, &mut rng);
        assert_eq!(p.len(), 150);
        let mut load: HashMap<u32, usize> = HashMap::new();
        for node in &nodes {
            let mine: Vec<u32> = p
                .iter()
                .filter(|(n, _)| n == node)
                .map(|(_, pr)| *pr)
                .collect();
            let set: HashSet<_> = mine.iter().collect();
            assert_eq!(set.len(), 3, "distinct probes for node {node}");
            assert_eq!(mine.iter().filter(|pr| censored.contains(pr)).count(), 2);
            assert_eq!(mine.iter().filter(|pr| free.contains(pr)).count(), 1);
            for pr in mine {
                *load.entry(pr).or_default() += 1;
            }
        }
        // Random, not fixed: every censored probe gets some of the work.
        assert!(
            censored
                .iter()
                .all(|c| load.get(c).copied().unwrap_or(0) >= 5),
            "{load:?}"
        );
    }

    #[test]
    fn fewer_probes_than_asked_assigns_what_there_is() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let p = plan(&[1], &[1], &[], TWO_AND_ONE, &mut rng);
        assert_eq!(p, vec![(1, 1)]);
        assert!(plan::<u32, u32>(&[], &[1], &[2], TWO_AND_ONE, &mut rng).is_empty());
    }

    #[test]
    fn the_same_seed_draws_the_same_plan() {
        let nodes: Vec<u32> = (0..20).collect();
        let probes: Vec<u32> = (0..9).collect();
        let draw = |seed| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            plan(&nodes, &probes[..6], &probes[6..], TWO_AND_ONE, &mut rng)
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
    }
}
