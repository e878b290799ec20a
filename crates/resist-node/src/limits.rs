//! Caps on connections: in total, and per client address.
//!
//! A client that opens thousands of connections and never finishes a handshake
//! must not starve everyone else: it runs into its own cap long before the
//! node's, and the handshake timeout frees its slots.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex};

/// Open connections per client key.
#[derive(Debug, Default)]
pub struct ClientCounts {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One client's hold on a connection slot; released on drop.
#[derive(Debug)]
pub struct ClientSlot {
    counts: Arc<ClientCounts>,
    key: IpAddr,
}

impl ClientCounts {
    /// Takes a slot for a client at `ip` if it holds fewer than `max`.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<ClientSlot> {
        let key = client_key(ip);
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let n = counts.entry(key).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(ClientSlot {
            counts: Arc::clone(self),
            key,
        })
    }

    /// Connections held by the client at `ip`.
    pub fn held(&self, ip: IpAddr) -> usize {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        counts.get(&client_key(ip)).copied().unwrap_or(0)
    }

    /// Distinct clients holding connections.
    pub fn clients(&self) -> usize {
        self.counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len()
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut counts = self
            .counts
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

/// The key a client is counted under: its IPv4 address, or its IPv6 /64 (one
/// host usually owns a whole /64, so counting /128s would be no cap at all).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(bits))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn cap_per_client_and_release_on_drop() {
        let counts = Arc::new(ClientCounts::default());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let s1 = counts.try_acquire(a, 2).unwrap();
        let _s2 = counts.try_acquire(a, 2).unwrap();
        assert!(counts.try_acquire(a, 2).is_none());
        let _sb = counts.try_acquire(b, 2).unwrap();
        assert_eq!(counts.held(a), 2);
        drop(s1);
        assert_eq!(counts.held(a), 1);
        assert!(counts.try_acquire(a, 2).is_some());
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
        let counts = Arc::new(ClientCounts::default());
        let _x = counts
            .try_acquire("2001:db8:1:2::1".parse().unwrap(), 1)
            .unwrap();
        assert!(
            counts
                .try_acquire("2001:db8:1:2:ffff::9".parse().unwrap(), 1)
                .is_none()
        );
        assert!(
            counts
                .try_acquire("2001:db8:1:3::1".parse().unwrap(), 1)
                .is_some()
        );
        let _v4 = counts
            .try_acquire("::ffff:192.0.2.1".parse().unwrap(), 1)
            .unwrap();
        assert!(
            counts
                .try_acquire("192.0.2.1".parse().unwrap(), 1)
                .is_none()
        );
        drop(_x);
        assert_eq!(counts.clients(), 1);
    }
}
