//! The gap-limit rule of `sync_treasury` (see the crate README): a coin
//! past the first `gap_limit` scripts is found only when an earlier coin
//! reaches it; chains of coins are followed past BDK's own lookahead of 25.

use bdk_wallet::bitcoin::Amount;
use resist_chain::{ChainError, ChainSource, SyncSummary, sync_treasury};

use crate::fixture::{Chain, Kind, ext, int, pay, shared, start};

/// Funds `ext(i)` with `1000 + i` sat for each external index and `int(i)`
/// with `5000 + i` for each internal one (the highest index in the first
/// block), syncs over Electrum and Esplora, and returns the summary and
/// balance (both backends must agree).
async fn sync(external: &[u32], internal: &[u32], gap_limit: u32) -> (SyncSummary, Amount) {
    let mut chain = Chain::new();
    let mut outputs: Vec<_> = external
        .iter()
        .map(|&i| (ext(i), 1000 + u64::from(i)))
        .chain(internal.iter().map(|&i| (int(i), 5000 + u64::from(i))))
        .collect();
    // The furthest coin comes first in the chain, so BDK's lookahead from
    // index 0 cannot be what finds it.
    outputs.sort_by_key(|(_, v)| std::cmp::Reverse(*v));
    for (n, o) in outputs.into_iter().enumerate() {
        chain.mine(vec![pay(u8::try_from(n).unwrap() + 1, &[o])]);
    }
    let state = shared(chain);
    let mut results = Vec::new();
    for kind in [Kind::Electrum, Kind::Esplora] {
        let source = ChainSource::new(&start(kind, &state).await).unwrap();
        let mut treasury = crate::fixture::treasury();
        let summary = sync_treasury(&mut treasury, &source, gap_limit)
            .await
            .unwrap();
        assert_eq!(treasury.balance(), summary.total);
        results.push((summary, treasury.balance()));
    }
    assert_eq!(results[0], results[1]);
    results.remove(0)
}

fn sat(values: &[u64]) -> Amount {
    Amount::from_sat(values.iter().sum())
}

#[tokio::test]
async fn a_lone_coin_past_the_gap_is_not_found() {
    let (summary, balance) = sync(&[23], &[], 20).await;
    assert_eq!(balance, Amount::ZERO);
    assert_eq!(summary.utxos, 0);
    assert_eq!(summary.external_scanned, 20);
}

#[tokio::test]
async fn an_earlier_coin_reaches_exactly_gap_limit_further() {
    // A coin at 2 extends the scan to 22: 23 stays out.
    let (summary, balance) = sync(&[2, 23], &[], 20).await;
    assert_eq!(balance, sat(&[1002]));
    assert_eq!(summary.external_scanned, 23);
    // A coin at 3 extends it to 23: found, and the scan goes on to 43.
    let (summary, balance) = sync(&[3, 23], &[], 20).await;
    assert_eq!(balance, sat(&[1003, 1023]));
    assert_eq!(summary.external_scanned, 44);
}

#[tokio::test]
async fn chained_coins_are_followed_beyond_bdk_lookahead() {
    let (summary, balance) = sync(&[10, 30, 50, 70], &[15, 35], 20).await;
    assert_eq!(balance, sat(&[1010, 1030, 1050, 1070, 5015, 5035]));
    assert_eq!(summary.utxos, 6);
    assert_eq!(summary.blocks, 6);
    assert_eq!(
        (summary.external_scanned, summary.internal_scanned),
        (91, 56)
    );
}

#[tokio::test]
async fn a_small_gap_limit_stops_sooner() {
    let (_, balance) = sync(&[0, 4, 9], &[], 5).await;
    assert_eq!(balance, sat(&[1000, 1004, 1009]));
    let (_, balance) = sync(&[0, 6], &[], 5).await;
    assert_eq!(balance, sat(&[1000]));
}

#[tokio::test]
async fn gap_limit_out_of_range_is_refused() {
    let state = shared(Chain::new());
    let source = ChainSource::new(&start(Kind::Esplora, &state).await).unwrap();
    let mut treasury = crate::fixture::treasury();
    for bad in [0, 1001] {
        let e = sync_treasury(&mut treasury, &source, bad)
            .await
            .unwrap_err();
        assert!(matches!(e, ChainError::Config(_)), "{e:?}");
    }
    // Nothing was asked of the server.
    assert_eq!(state.lock().unwrap().requests, 0);
}
