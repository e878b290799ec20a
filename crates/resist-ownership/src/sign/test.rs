//! Unit tests for the test-network signing helpers' refusals. Round trips
//! are in `tests/roundtrip.rs`.

use super::*;

// WIF of the secret key 1, compressed, mainnet.
const MAINNET_WIF: &str = "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn";

fn test_wif(n: u8, compressed: bool) -> String {
    let sk = SecretKey::from_slice(&[n; 32]).unwrap();
    let mut key = PrivateKey::new(sk, NetworkKind::Test);
    key.compressed = compressed;
    key.to_wif()
}

#[test]
fn generated_keys_are_test_network_compressed_and_distinct() {
    let a = generate_test_wif(Network::Regtest).unwrap();
    let b = generate_test_wif(Network::Signet).unwrap();
    assert_ne!(a, b);
    for wif in [&a, &b] {
        assert!(wif.starts_with('c'), "{wif}");
        let key = PrivateKey::from_wif(wif).unwrap();
        assert_eq!(key.network, NetworkKind::Test);
        assert!(key.compressed);
    }
    assert_eq!(generate_test_wif(Network::Mainnet), Err(SignError::Mainnet));
}

#[test]
fn mainnet_keys_and_networks_are_refused() {
    assert_eq!(
        address_for_test_wif(MAINNET_WIF, AddressKind::P2wpkh, Network::Regtest),
        Err(SignError::MainnetKey)
    );
    assert_eq!(
        address_for_test_wif(&test_wif(1, true), AddressKind::P2wpkh, Network::Mainnet),
        Err(SignError::Mainnet)
    );
    let msg = SignError::MainnetKey.to_string();
    assert!(msg.contains("never belong on a command line"), "{msg}");
    assert!(!msg.contains(MAINNET_WIF));
}

#[test]
fn garbage_wifs_are_refused_without_echo() {
    // A valid WIF with its last character changed: checksum fails.
    let mut corrupted = test_wif(5, true);
    let last = corrupted.pop().unwrap();
    corrupted.push(if last == 'x' { 'y' } else { 'x' });
    for s in ["", "   ", "hello", corrupted.as_str(), &"c".repeat(500)] {
        let err = address_for_test_wif(s, AddressKind::P2wpkh, Network::Regtest).unwrap_err();
        assert_eq!(err, SignError::NotAWif, "{s}");
    }
    // An address is not a key either.
    assert_eq!(
        address_for_test_wif(
            "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
            AddressKind::P2pkh,
            Network::Regtest
        ),
        Err(SignError::NotAWif)
    );
}

#[test]
fn uncompressed_keys_only_make_p2pkh() {
    let wif = test_wif(2, false);
    assert!(wif.starts_with('9'), "{wif}");
    let a = address_for_test_wif(&wif, AddressKind::P2pkh, Network::Testnet).unwrap();
    assert_eq!(a.kind(), AddressKind::P2pkh);
    for kind in [AddressKind::P2wpkh, AddressKind::P2sh, AddressKind::P2tr] {
        assert_eq!(
            address_for_test_wif(&wif, kind, Network::Testnet),
            Err(SignError::UncompressedKey { kind })
        );
    }
}

#[test]
fn p2wsh_is_unsupported() {
    assert_eq!(
        address_for_test_wif(&test_wif(3, true), AddressKind::P2wsh, Network::Regtest),
        Err(SignError::Unsupported {
            kind: AddressKind::P2wsh
        })
    );
}

#[test]
fn addresses_have_the_network_prefixes() {
    let wif = test_wif(4, true);
    let cases = [
        (AddressKind::P2wpkh, Network::Regtest, "bcrt1q"),
        (AddressKind::P2tr, Network::Regtest, "bcrt1p"),
        (AddressKind::P2wpkh, Network::Signet, "tb1q"),
        (AddressKind::P2tr, Network::Testnet4, "tb1p"),
        (AddressKind::P2sh, Network::Regtest, "2"),
    ];
    for (kind, net, prefix) in cases {
        let a = address_for_test_wif(&wif, kind, net).unwrap();
        assert!(a.as_str().starts_with(prefix), "{a}");
        assert_eq!(a.kind(), kind);
        assert_eq!(a.network(), net);
    }
    let pkh = address_for_test_wif(&wif, AddressKind::P2pkh, Network::Regtest).unwrap();
    assert!(pkh.as_str().starts_with(['m', 'n']), "{pkh}");
}
