//! Round trips through our own signer and verifier, the mainnet refusals,
//! and property tests that no input panics or verifies by accident.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use proptest::prelude::*;
use resist_ownership::{
    AddressError, AddressKind, AddressNetwork, Network, PayoutAddress, ProofError, ProofKind,
    SignError, address_for_test_wif, fuzzing, generate_test_wif, parse_address,
    sign_for_test_network, verify,
};

const TEST_NETWORKS: [Network; 4] = [
    Network::Testnet,
    Network::Testnet4,
    Network::Signet,
    Network::Regtest,
];
const SIGNABLE: [(AddressKind, ProofKind); 4] = [
    (AddressKind::P2wpkh, ProofKind::Bip322Simple),
    (AddressKind::P2tr, ProofKind::Bip322Simple),
    (AddressKind::P2sh, ProofKind::Bip322Simple),
    (AddressKind::P2pkh, ProofKind::Legacy),
];
// WIF of the secret key 1, compressed, mainnet.
const MAINNET_WIF: &str = "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn";

fn challenge(address: &PayoutAddress) -> String {
    format!(
        "proxy-grants:op-7:{address}:{}:00112233445566778899aabbccddeeff:2026-12-31T00:00:00Z",
        address.network()
    )
}

#[test]
fn sign_then_verify_for_every_type_and_test_network() {
    for network in TEST_NETWORKS {
        let wif = generate_test_wif(network).unwrap();
        for (kind, format) in SIGNABLE {
            let address = address_for_test_wif(&wif, kind, network).unwrap();
            let message = challenge(&address);
            let sig = sign_for_test_network(&wif, &address, &message).unwrap();
            assert_eq!(
                verify(&address, &message, &sig),
                Ok(format),
                "{kind} on {network}"
            );
            // The stored form parses back to the same address.
            assert_eq!(parse_address(address.as_str(), network).unwrap(), address);
            // And nothing else verifies.
            assert!(verify(&address, &format!("{message}."), &sig).is_err());
            let other =
                address_for_test_wif(&generate_test_wif(network).unwrap(), kind, network).unwrap();
            assert!(verify(&other, &message, &sig).is_err());
        }
    }
}

#[test]
fn bip322_full_proofs_are_recognised() {
    // The full format is rare in wallets; make one with the bip322 crate to
    // check that detection and the ProofKind are right, prefixed or not.
    let wif = generate_test_wif(Network::Regtest).unwrap();
    for kind in [AddressKind::P2wpkh, AddressKind::P2tr, AddressKind::P2pkh] {
        let address = address_for_test_wif(&wif, kind, Network::Regtest).unwrap();
        let full = bip322::sign_full_encoded(
            address.as_str(),
            "full proof",
            &[wif.as_str()],
            None,
            bip322::LockParams::default(),
        )
        .unwrap();
        assert!(full.starts_with("ful"));
        assert_eq!(
            verify(&address, "full proof", &full),
            Ok(ProofKind::Bip322Full),
            "{kind}"
        );
        assert_eq!(
            verify(&address, "full proof", &full[3..]),
            Ok(ProofKind::Bip322Full)
        );
        assert!(matches!(
            verify(&address, "full proof!", &full),
            Err(ProofError::Mismatch { .. })
        ));
    }
}

#[test]
fn time_locked_full_proofs_are_refused() {
    let wif = generate_test_wif(Network::Regtest).unwrap();
    let address = address_for_test_wif(&wif, AddressKind::P2wpkh, Network::Regtest).unwrap();
    let locks = bip322::LockParams {
        lock_time: bitcoin::absolute::LockTime::from_height(800_000).unwrap(),
        sequence: bitcoin::Sequence(144),
    };
    let full =
        bip322::sign_full_encoded(address.as_str(), "m", &[wif.as_str()], None, locks).unwrap();
    assert_eq!(verify(&address, "m", &full), Err(ProofError::Timelocked));
}

#[test]
fn a_key_that_is_not_the_addresses_is_refused() {
    let network = Network::Signet;
    let wif = generate_test_wif(network).unwrap();
    let other = generate_test_wif(network).unwrap();
    for (kind, _) in SIGNABLE {
        let address = address_for_test_wif(&wif, kind, network).unwrap();
        let err = sign_for_test_network(&other, &address, "m").unwrap_err();
        let SignError::KeyMismatch {
            address: a,
            kind: k,
            derived,
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(a, address.as_str());
        assert_eq!(*k, kind);
        assert_eq!(
            derived,
            address_for_test_wif(&other, kind, network)
                .unwrap()
                .as_str()
        );
        assert!(err.to_string().contains("does not belong to"), "{err}");
    }
}

#[test]
fn p2wsh_cannot_be_signed_here() {
    // BIP-350 testnet P2WSH vector.
    let address = parse_address(
        "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7",
        Network::Testnet,
    )
    .unwrap();
    let wif = generate_test_wif(Network::Testnet).unwrap();
    assert_eq!(
        sign_for_test_network(&wif, &address, "m"),
        Err(SignError::Unsupported {
            kind: AddressKind::P2wsh
        })
    );
}

#[test]
fn mainnet_is_refused_everywhere() {
    assert_eq!(generate_test_wif(Network::Mainnet), Err(SignError::Mainnet));
    let wif = generate_test_wif(Network::Testnet).unwrap();
    for (kind, _) in SIGNABLE {
        assert_eq!(
            address_for_test_wif(&wif, kind, Network::Mainnet),
            Err(SignError::Mainnet)
        );
        assert_eq!(
            address_for_test_wif(MAINNET_WIF, kind, Network::Testnet),
            Err(SignError::MainnetKey)
        );
    }
    // A mainnet address, with a test key and with a mainnet key.
    let main = parse_address(
        "bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l",
        Network::Mainnet,
    )
    .unwrap();
    assert_eq!(
        sign_for_test_network(&wif, &main, "m"),
        Err(SignError::Mainnet)
    );
    assert_eq!(
        sign_for_test_network(
            "L3VFeEujGtevx9w18HD1fhRbCH67Az2dpCymeRE1SoPK6XQtaN2k",
            &main,
            "m"
        ),
        Err(SignError::MainnetKey)
    );
    // The messages explain why.
    assert!(
        SignError::Mainnet
            .to_string()
            .contains("never belong on a command line")
    );
    assert!(
        SignError::MainnetKey
            .to_string()
            .contains("treat it as exposed")
    );
}

#[test]
fn addresses_from_one_network_are_refused_on_another() {
    let wif = generate_test_wif(Network::Regtest).unwrap();
    let regtest = address_for_test_wif(&wif, AddressKind::P2tr, Network::Regtest).unwrap();
    let signet = address_for_test_wif(&wif, AddressKind::P2tr, Network::Signet).unwrap();
    assert_eq!(
        parse_address(regtest.as_str(), Network::Signet),
        Err(AddressError::WrongNetwork {
            found: AddressNetwork::Regtest,
            expected: Network::Signet
        })
    );
    assert_eq!(
        parse_address(signet.as_str(), Network::Regtest),
        Err(AddressError::WrongNetwork {
            found: AddressNetwork::TestnetOrSignet,
            expected: Network::Regtest
        })
    );
    // Testnet, testnet4 and signet cannot be told apart by address.
    for net in [Network::Testnet, Network::Testnet4] {
        assert!(parse_address(signet.as_str(), net).is_ok());
    }
    // Base58 test addresses are valid on every test network, regtest too.
    let pkh = address_for_test_wif(&wif, AddressKind::P2pkh, Network::Signet).unwrap();
    assert!(parse_address(pkh.as_str(), Network::Regtest).is_ok());
    assert!(matches!(
        parse_address(pkh.as_str(), Network::Mainnet),
        Err(AddressError::WrongNetwork {
            found: AddressNetwork::AnyTestNetwork,
            ..
        })
    ));
}

/// Fixed addresses the property tests check against, one per type.
fn targets() -> Vec<PayoutAddress> {
    [
        (
            "bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l",
            Network::Mainnet,
        ),
        (
            "bc1ppv609nr0vr25u07u95waq5lucwfm6tde4nydujnu8npg4q75mr5sxq8lt3",
            Network::Mainnet,
        ),
        ("3HSVzEhCFuH9Z3wvoWTexy7BMVVp3PjS6f", Network::Mainnet),
        ("14vV3aCHBeStb5bkenkNHbe2YAFinYdXgc", Network::Mainnet),
        (
            "bc1qg8r3cl47rrr75dwvr7jhzdukptegnmq8v0nmjd2jdn4qvlczqkts0rqtav",
            Network::Mainnet,
        ),
    ]
    .into_iter()
    .map(|(a, n)| parse_address(a, n).unwrap())
    .collect()
}

/// Valid BIP-322 vectors to mutate (see testvec_official.rs for their
/// provenance): (index into `targets()`, message, signature).
fn valid() -> Vec<(usize, &'static str, &'static str)> {
    vec![
        (
            0,
            "Hello World",
            "AkgwRQIhAOzyynlqt93lOKJr+wmmxIens//zPzl9tqIOua93wO6MAiBi5n5EyAcPScOjf1lAqIUIQtr3zKNeavYabHyR8eGhowEhAsfxIAMZZEKUPYWI4BruhAQjzFT8FSFSajuFwrDL1Yhy",
        ),
        (
            1,
            "Hello World",
            "AUHd69PrJQEv+oKTfZ8l+WROBHuy9HKrbFCJu7U1iK2iiEy1vMU5EfMtjc+VSHM7aU0SDbak5IUZRVno2P5mjSafAQ==",
        ),
        (
            2,
            "Hello World",
            "AkgwRQIhAMd2wZSY3x0V9Kr/NClochoTXcgDaGl3OObOR17yx3QQAiBVWxqNSS+CKen7bmJTG6YfJjsggQ4Fa2RHKgBKrdQQ+gEhAxa5UDdQCHSQHfKQv14ybcYm1C9y6b12xAuukWzSnS+w",
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_text_never_panics_or_verifies(message in ".{0,300}", signature in ".{0,300}") {
        for address in targets() {
            prop_assert!(verify(&address, &message, &signature).is_err());
        }
    }

    #[test]
    fn random_base64_never_panics_or_verifies(
        message in "[ -~]{0,80}",
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        prefix in prop::sample::select(vec!["", "smp", "ful"]),
    ) {
        let sig = format!("{prefix}{}", B64.encode(&bytes));
        for address in targets() {
            prop_assert!(verify(&address, &message, &sig).is_err());
        }
    }

    #[test]
    fn random_legacy_shaped_signatures_never_verify(
        message in "[ -~]{0,80}",
        header in 27u8..=42,
        body in proptest::array::uniform32(any::<u8>()),
        body2 in proptest::array::uniform32(any::<u8>()),
    ) {
        let mut bytes = vec![header];
        bytes.extend_from_slice(&body);
        bytes.extend_from_slice(&body2);
        let sig = B64.encode(&bytes);
        for address in targets() {
            prop_assert!(verify(&address, &message, &sig).is_err());
        }
    }

    #[test]
    fn random_witness_shaped_signatures_never_verify(
        message in "[ -~]{0,80}",
        items in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..5),
    ) {
        let witness = bitcoin::Witness::from_slice(&items);
        let sig = B64.encode(bitcoin::consensus::serialize(&witness));
        for address in targets() {
            prop_assert!(verify(&address, &message, &sig).is_err());
        }
    }

    #[test]
    fn one_bit_flips_of_valid_bip322_signatures_never_verify(
        which in 0usize..3,
        bit in 0usize..(8 * 107),
    ) {
        let targets = targets();
        let (i, message, sig) = valid()[which];
        let mut bytes = B64.decode(sig).unwrap();
        let bit = bit % (8 * bytes.len());
        bytes[bit / 8] ^= 1 << (bit % 8);
        let mutated = B64.encode(&bytes);
        prop_assert!(verify(&targets[i], message, &mutated).is_err());
    }

    #[test]
    fn one_bit_flips_of_a_legacy_signature_body_never_verify(bit in 8usize..(8 * 65)) {
        // Bitcoin Core util_tests.cpp message_sign vector. The header byte is
        // left alone: headers 31..=42 with the same recovery id are accepted
        // interchangeably by design (Electrum vs BIP-137).
        let address = parse_address("15CRxFdyRpGZLW9w8HnHvVduizdL5jKNbs", Network::Mainnet).unwrap();
        let sig = "IPojfrX2dfPnH26UegfbGQQLrdK844DlHq5157/P6h57WyuS/Qsl+h/WSVGDF4MUi4rWSswW38oimDYfNNUBUOk=";
        let mut bytes = B64.decode(sig).unwrap();
        bytes[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(verify(&address, "Trust no one", &B64.encode(&bytes)).is_err());
    }

    #[test]
    fn random_addresses_never_panic(s in ".{0,140}", net in prop::sample::select(Network::ALL.to_vec())) {
        let _ = parse_address(&s, net);
        fuzzing::address(s.as_bytes());
    }

    #[test]
    fn address_shaped_strings_never_panic(
        prefix in prop::sample::select(vec!["bc1", "tb1", "bcrt1", "BC1", "1", "3", "m", "2", ""]),
        body in "[qpzry9x8gf2tvdw0s3jn54khce6mua7lQPZRY1bio]{0,70}",
    ) {
        for net in Network::ALL {
            let _ = parse_address(&format!("{prefix}{body}"), net);
        }
    }

    #[test]
    fn fuzz_body_never_panics(data in proptest::collection::vec(any::<u8>(), 0..400)) {
        prop_assert!(!fuzzing::signature(&data));
    }
}
