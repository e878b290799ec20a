//! Each backend against its fixture server: the treasury's balance after a
//! sync is the funded sum (unconfirmed, too recent and spent coins left
//! out), broadcasts carry the exact hex, and every kind of lie ends in its
//! typed error.

use std::collections::BTreeSet;
use std::time::Duration;

use bdk_wallet::bitcoin::{Address, Network as BtcNetwork};
use bdk_wallet::bitcoin::{Amount, OutPoint, Transaction};
use resist_chain::{ChainError, ChainSource, MAX_REASON_CHARS, sync_treasury};
use resist_grants::AddressType;
use resist_ownership::Network;
use resist_payout::{FundingBlock, Payee, build_payout_psbt};

use crate::fixture::{
    Chain, Kind, Lie, Shared, ext, foreign, int, pay, shared, spend, start, tx_hex,
};

/// The funded chain every backend test uses, and the outpoints and sum the
/// treasury must end up with at `min_confirmations = 2`.
struct Funded {
    state: Shared,
    expected: BTreeSet<OutPoint>,
    expected_sum: u64,
    /// The coin with exactly one confirmation.
    recent: (OutPoint, u64),
    a: Transaction,
}

fn funded() -> Funded {
    let mut chain = Chain::new();
    // Block 1: two treasury outputs and one foreign.
    let a = pay(
        1,
        &[(ext(0), 100_000), (ext(1), 50_000), (foreign(), 7_000)],
    );
    chain.mine(vec![a.clone()]);
    // Block 2: change-keychain coin.
    let b = pay(2, &[(int(0), 30_000)]);
    chain.mine(vec![b.clone()]);
    chain.mine(vec![]);
    // Block 4: two keychains in one transaction, and ext(1) spent.
    let c = pay(3, &[(ext(5), 20_000), (foreign(), 1), (int(3), 10_000)]);
    let d = spend(
        OutPoint {
            txid: a.compute_txid(),
            vout: 1,
        },
        &[(foreign(), 49_000)],
    );
    chain.mine(vec![c.clone(), d]);
    // Block 5 (the tip): one confirmation only.
    let f = pay(4, &[(ext(3), 77_777)]);
    chain.mine(vec![f.clone()]);
    // The mempool: unconfirmed.
    chain.mempool.push(pay(5, &[(ext(2), 99_999)]));

    let op = |tx: &Transaction, vout| OutPoint {
        txid: tx.compute_txid(),
        vout,
    };
    Funded {
        state: shared(chain),
        expected: [op(&a, 0), op(&b, 0), op(&c, 0), op(&c, 2)].into(),
        expected_sum: 100_000 + 30_000 + 20_000 + 10_000,
        recent: (op(&f, 0), 77_777),
        a,
    }
}

async fn sync_balance(kind: Kind) {
    let fx = funded();
    let mut config = start(kind, &fx.state).await;
    config.min_confirmations = 2;
    let source = ChainSource::new(&config).unwrap();
    assert_eq!(source.tip_height().await.unwrap(), 5);

    let mut treasury = crate::fixture::treasury();
    let summary = sync_treasury(&mut treasury, &source, 20).await.unwrap();
    assert_eq!(treasury.balance(), Amount::from_sat(fx.expected_sum));
    assert_eq!(summary.total, Amount::from_sat(fx.expected_sum));
    assert_eq!(
        (summary.utxos, summary.transactions, summary.blocks),
        (4, 3, 3)
    );
    assert_eq!(
        (summary.external_scanned, summary.internal_scanned),
        (26, 24)
    );
    let wallet = treasury.wallet();
    let got: BTreeSet<OutPoint> = wallet
        .list_unspent()
        .map(|u| u.outpoint)
        .filter(|op| !wallet.is_outpoint_locked(*op))
        .collect();
    assert_eq!(got, fx.expected);
    assert!(!got.contains(&fx.recent.0));

    // A payout needing every coin spends exactly the listed ones, never the
    // spent output of an applied parent.
    let spent_output = OutPoint {
        txid: fx.a.compute_txid(),
        vout: 1,
    };
    let payee = Payee {
        address: Address::from_script(&foreign(), BtcNetwork::Regtest)
            .unwrap()
            .to_string(),
        amount_sat: 150_000,
        address_type: Some(AddressType::P2wsh),
    };
    let batches = build_payout_psbt(&mut treasury, &[payee], 2, 7).unwrap();
    let inputs: BTreeSet<OutPoint> = batches[0]
        .psbt
        .unsigned_tx
        .input
        .iter()
        .map(|i| i.previous_output)
        .collect();
    assert!(!inputs.contains(&spent_output));
    assert_eq!(inputs, fx.expected);

    // At one confirmation the tip's coin counts too (the threshold is exact).
    config.min_confirmations = 1;
    let source = ChainSource::new(&config).unwrap();
    let mut treasury = crate::fixture::treasury();
    let summary = sync_treasury(&mut treasury, &source, 20).await.unwrap();
    let sum = fx.expected_sum + fx.recent.1;
    assert_eq!(treasury.balance(), Amount::from_sat(sum));
    assert_eq!(summary.utxos, 5);

    // A second sync of the same treasury is refused.
    let e = sync_treasury(&mut treasury, &source, 20).await.unwrap_err();
    assert!(matches!(e, ChainError::TreasuryNotFresh), "{e:?}");
}

/// `funding` itself: the parent transaction and the confirming block as
/// the chain has them.
async fn funding_carries_tx_and_block(kind: Kind) {
    let fx = funded();
    let config = start(kind, &fx.state).await;
    let source = ChainSource::new(&config).unwrap();
    let found = source.funding(&[ext(0), ext(1), ext(2)]).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let f = &found[0];
    let block1 = fx.state.lock().unwrap().chain.blocks[1].clone();
    assert_eq!(
        f.block,
        FundingBlock {
            height: 1,
            hash: block1.block_hash(),
            time: u64::from(block1.header.time),
        }
    );
    assert_eq!(*f.tx, fx.a);
    assert_eq!(f.txout.value, Amount::from_sat(100_000));
    assert_eq!(f.txout.script_pubkey, ext(0));
    assert!(source.funding(&[]).await.unwrap().is_empty());
}

async fn broadcast(kind: Kind) {
    let fx = funded();
    let config = start(kind, &fx.state).await;
    let source = ChainSource::new(&config).unwrap();
    let tx = spend(
        OutPoint {
            txid: fx.a.compute_txid(),
            vout: 0,
        },
        &[(foreign(), 99_000)],
    );
    assert_eq!(source.broadcast(&tx).await.unwrap(), tx.compute_txid());
    assert_eq!(fx.state.lock().unwrap().broadcasts, vec![tx_hex(&tx)]);

    // A refusal carries the server's reason, cut.
    let long = format!("bad-txns-inputs-missingorspent {}", "x".repeat(2000));
    fx.state.lock().unwrap().reject = Some(long);
    match source.broadcast(&tx).await.unwrap_err() {
        ChainError::BroadcastRejected { txid, reason, .. } => {
            assert_eq!(txid, tx.compute_txid());
            assert!(
                reason.contains("bad-txns-inputs-missingorspent"),
                "{reason}"
            );
            assert!(reason.chars().count() <= MAX_REASON_CHARS + 1, "{reason}");
        }
        e => panic!("{e:?}"),
    }

    // An acceptance naming another txid is not taken for success.
    {
        let mut f = fx.state.lock().unwrap();
        f.reject = None;
        f.lie = Lie::OtherTxid;
    }
    let e = source.broadcast(&tx).await.unwrap_err();
    assert!(
        matches!(e, ChainError::BroadcastTxidMismatch { expected, .. } if expected == tx.compute_txid()),
        "{e:?}"
    );
}

/// Syncs a fresh treasury against a server told to `lie`.
async fn sync_with(kind: Kind, lie: Lie) -> ChainError {
    let fx = funded();
    fx.state.lock().unwrap().lie = lie;
    let mut config = start(kind, &fx.state).await;
    if lie == Lie::Silent {
        config.timeout = Duration::from_secs(1);
    }
    let source = ChainSource::new(&config).unwrap();
    let mut treasury = crate::fixture::treasury();
    let e = sync_treasury(&mut treasury, &source, 20).await.unwrap_err();
    // Nothing half-applied.
    assert_eq!(treasury.balance(), Amount::ZERO);
    e
}

async fn lies(kind: Kind) {
    let e = sync_with(kind, Lie::WrongTx).await;
    assert!(
        matches!(e, ChainError::TxidMismatch { .. }),
        "{kind:?}: {e:?}"
    );

    let e = sync_with(kind, Lie::WrongValue).await;
    assert!(
        matches!(&e, ChainError::OutputMismatch { detail, .. } if detail.contains("sat")),
        "{kind:?}: {e:?}"
    );

    let e = sync_with(kind, Lie::WrongHeader).await;
    if kind == Kind::Electrum {
        // Electrum names blocks by height only: a header of another block
        // cannot be told apart, one that is not 80 bytes can.
        assert!(matches!(e, ChainError::Malformed { .. }), "{e:?}");
    } else {
        assert!(
            matches!(e, ChainError::HeaderMismatch { .. }),
            "{kind:?}: {e:?}"
        );
    }

    let e = sync_with(kind, Lie::Oversize).await;
    assert!(matches!(e, ChainError::TooLarge { .. }), "{kind:?}: {e:?}");

    let started = tokio::time::Instant::now();
    let e = sync_with(kind, Lie::Silent).await;
    assert!(
        matches!(e, ChainError::Timeout { after, .. } if after == Duration::from_secs(1)),
        "{kind:?}: {e:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A coin spent by a treasury transaction: only the newer coin counts, and
/// a server listing the spent one too contradicts itself.
async fn spent_by_the_treasury(kind: Kind) {
    let mut chain = Chain::new();
    let a = pay(1, &[(ext(0), 100_000)]);
    chain.mine(vec![a.clone()]);
    let payout = spend(
        OutPoint {
            txid: a.compute_txid(),
            vout: 0,
        },
        &[(foreign(), 60_000), (int(0), 39_000)],
    );
    chain.mine(vec![payout.clone()]);
    let state = shared(chain);
    let config = start(kind, &state).await;
    let source = ChainSource::new(&config).unwrap();

    let mut treasury = crate::fixture::treasury();
    let summary = sync_treasury(&mut treasury, &source, 20).await.unwrap();
    assert_eq!(treasury.balance(), Amount::from_sat(39_000));
    assert_eq!((summary.utxos, summary.excluded), (1, 0));

    state.lock().unwrap().lie = Lie::ListSpent;
    let mut treasury = crate::fixture::treasury();
    let e = sync_treasury(&mut treasury, &source, 20).await.unwrap_err();
    assert!(
        matches!(&e, ChainError::InconsistentChain { detail, .. } if detail.contains("spends it")),
        "{e:?}"
    );
}

async fn wrong_network(kind: Kind) {
    let fx = funded();
    let config = start(kind, &fx.state).await;
    let source = ChainSource::new(&config).unwrap();
    source.check_network(Network::Regtest).await.unwrap();
    let e = source.check_network(Network::Mainnet).await.unwrap_err();
    assert!(
        matches!(
            e,
            ChainError::WrongNetwork {
                network: "mainnet",
                ..
            }
        ),
        "{e:?}"
    );
}

async fn unreachable(kind: Kind) {
    // A port that was just free: nothing listens.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let fx = funded();
    let mut config = start(kind, &fx.state).await;
    config.backend = match config.backend {
        resist_chain::Backend::Esplora { .. } => resist_chain::Backend::Esplora {
            url: format!("http://127.0.0.1:{port}"),
        },
        resist_chain::Backend::Electrum { .. } => resist_chain::Backend::Electrum {
            address: format!("127.0.0.1:{port}"),
        },
        resist_chain::Backend::Bitcoind { auth, .. } => resist_chain::Backend::Bitcoind {
            url: format!("http://127.0.0.1:{port}"),
            auth,
        },
        other => other,
    };
    let source = ChainSource::new(&config).unwrap();
    let e = source.tip_height().await.unwrap_err();
    assert!(matches!(e, ChainError::Connect { .. }), "{e:?}");
}

macro_rules! per_backend {
    ($($module:ident => $kind:expr),*) => {$(
        mod $module {
            use super::*;

            #[tokio::test]
            async fn sync_balance_is_the_confirmed_funded_sum() {
                sync_balance($kind).await;
            }

            #[tokio::test]
            async fn funding_carries_parent_tx_and_block() {
                funding_carries_tx_and_block($kind).await;
            }

            #[tokio::test]
            async fn broadcast_sends_exact_hex_and_checks_the_answer() {
                broadcast($kind).await;
            }

            #[tokio::test]
            async fn lying_server_gives_typed_errors() {
                lies($kind).await;
            }

            #[tokio::test]
            async fn a_coin_spent_by_the_treasury_is_not_counted() {
                spent_by_the_treasury($kind).await;
            }

            #[tokio::test]
            async fn server_on_another_network_is_refused() {
                wrong_network($kind).await;
            }

            #[tokio::test]
            async fn nothing_listening_is_a_connect_error() {
                unreachable($kind).await;
            }
        }
    )*};
}

per_backend!(esplora => Kind::Esplora, electrum => Kind::Electrum, bitcoind => Kind::Bitcoind);

/// bitcoind's authentication: the cookie file (read on every call),
/// user/password, and a 401 for wrong credentials.
mod bitcoind_auth {
    use resist_chain::{Backend, CoreAuth, Secret};

    use super::*;

    #[tokio::test]
    async fn cookie_file_is_read_on_every_call() {
        let fx = funded();
        let dir = tempfile::tempdir().unwrap();
        let cookie = dir.path().join(".cookie");
        std::fs::write(&cookie, "__cookie__:3f1c0ffee\n").unwrap();
        fx.state.lock().unwrap().rpc_auth = ("__cookie__".into(), "3f1c0ffee".into());
        let mut config = start(Kind::Bitcoind, &fx.state).await;
        let Backend::Bitcoind { auth, .. } = &mut config.backend else {
            unreachable!()
        };
        *auth = CoreAuth::CookieFile(cookie.clone());
        let source = ChainSource::new(&config).unwrap();
        assert_eq!(source.tip_height().await.unwrap(), 5);

        // bitcoind restarted: a new cookie, picked up without a new source.
        std::fs::write(&cookie, "__cookie__:0ddba11\n").unwrap();
        fx.state.lock().unwrap().rpc_auth = ("__cookie__".into(), "0ddba11".into());
        let mut treasury = crate::fixture::treasury();
        sync_treasury(&mut treasury, &source, 20).await.unwrap();
        assert!(treasury.balance() > Amount::ZERO);

        // A stale cookie is a 401.
        fx.state.lock().unwrap().rpc_auth = ("__cookie__".into(), "another".into());
        let e = source.tip_height().await.unwrap_err();
        assert!(matches!(e, ChainError::Unauthorized), "{e:?}");

        // No cookie file: says which file.
        std::fs::remove_file(&cookie).unwrap();
        match source.tip_height().await.unwrap_err() {
            ChainError::CookieFile { path, .. } => assert_eq!(path, cookie),
            e => panic!("{e:?}"),
        }
    }

    #[tokio::test]
    async fn wrong_password_is_unauthorized_and_never_printed() {
        let fx = funded();
        let mut config = start(Kind::Bitcoind, &fx.state).await;
        // The right credentials work.
        ChainSource::new(&config)
            .unwrap()
            .tip_height()
            .await
            .unwrap();
        let Backend::Bitcoind { auth, .. } = &mut config.backend else {
            unreachable!()
        };
        let wrong = "wrong-password-xyzzy";
        *auth = CoreAuth::UserPassword {
            user: "rpcuser".into(),
            password: Secret::new(wrong),
        };
        let source = ChainSource::new(&config).unwrap();
        let e = source.tip_height().await.unwrap_err();
        assert!(matches!(e, ChainError::Unauthorized), "{e:?}");
        for text in [
            format!("{e}"),
            format!("{e:?}"),
            format!("{source:?}"),
            format!("{config:?}"),
        ] {
            assert!(!text.contains(wrong), "{text}");
        }
    }
}
