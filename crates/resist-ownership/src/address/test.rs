//! Unit tests for address parsing. Addresses marked BIP-173/BIP-350 are the
//! test vectors from those BIPs (as carried in the bech32 0.11 crate's
//! `tests/bip_350_test_vectors.rs`).

use bitcoin::secp256k1::{Secp256k1, SecretKey};
use bitcoin::{CompressedPublicKey, KnownHrp, PrivateKey};

use super::*;

// BIP-350 valid vectors.
const MAIN_P2WPKH_UPPER: &str = "BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4";
const TEST_P2WSH: &str = "tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7";
const MAIN_P2TR: &str = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0";
const TEST_P2TR: &str = "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c";
// BIP-173 mainnet P2WSH vector.
const MAIN_P2WSH: &str = "bc1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3qccfmv3";
// The genesis coinbase address and the commonly quoted P2SH example.
const MAIN_P2PKH: &str = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa";
const MAIN_P2SH: &str = "3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy";

fn key(n: u8) -> PrivateKey {
    let sk = SecretKey::from_slice(&[n; 32]).unwrap();
    PrivateKey::new(sk, bitcoin::NetworkKind::Test)
}

fn compressed(n: u8) -> CompressedPublicKey {
    CompressedPublicKey::from_private_key(&Secp256k1::new(), &key(n)).unwrap()
}

#[test]
fn each_supported_type_parses_with_its_kind() {
    let cases = [
        (MAIN_P2WPKH_UPPER, Network::Mainnet, AddressKind::P2wpkh),
        (MAIN_P2WSH, Network::Mainnet, AddressKind::P2wsh),
        (MAIN_P2TR, Network::Mainnet, AddressKind::P2tr),
        (MAIN_P2PKH, Network::Mainnet, AddressKind::P2pkh),
        (MAIN_P2SH, Network::Mainnet, AddressKind::P2sh),
        (TEST_P2WSH, Network::Testnet, AddressKind::P2wsh),
        (TEST_P2TR, Network::Signet, AddressKind::P2tr),
        (TEST_P2TR, Network::Testnet4, AddressKind::P2tr),
    ];
    for (s, net, kind) in cases {
        let a = parse_address(s, net).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(a.kind(), kind, "{s}");
        assert_eq!(a.network(), net);
        let expected = if bech32_family(s).is_some() {
            s.to_lowercase()
        } else {
            s.to_owned()
        };
        assert_eq!(a.as_str(), expected, "{s}");
    }
}

#[test]
fn regtest_and_test_base58_addresses_parse() {
    let pk = compressed(7);
    let wpkh = Address::p2wpkh(&pk, KnownHrp::Regtest).to_string();
    assert!(wpkh.starts_with("bcrt1q"));
    let a = parse_address(&wpkh, Network::Regtest).unwrap();
    assert_eq!(a.kind(), AddressKind::P2wpkh);
    assert_eq!(
        a.script_pubkey(),
        Address::p2wpkh(&pk, KnownHrp::Regtest).script_pubkey()
    );

    let pkh = Address::p2pkh(pk, bitcoin::NetworkKind::Test).to_string();
    let sh = Address::p2shwpkh(&pk, bitcoin::NetworkKind::Test).to_string();
    for net in [
        Network::Testnet,
        Network::Testnet4,
        Network::Signet,
        Network::Regtest,
    ] {
        assert_eq!(parse_address(&pkh, net).unwrap().kind(), AddressKind::P2pkh);
        assert_eq!(parse_address(&sh, net).unwrap().kind(), AddressKind::P2sh);
    }
}

#[test]
fn upper_case_bech32_is_accepted_and_stored_lower_case() {
    let a = parse_address(MAIN_P2WPKH_UPPER, Network::Mainnet).unwrap();
    assert_eq!(a.as_str(), "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4");
    assert_eq!(
        a,
        parse_address(&MAIN_P2WPKH_UPPER.to_lowercase(), Network::Mainnet).unwrap()
    );
    let t = parse_address(&MAIN_P2TR.to_uppercase(), Network::Mainnet).unwrap();
    assert_eq!(t.as_str(), MAIN_P2TR);
}

#[test]
fn surrounding_whitespace_is_ignored() {
    let a = parse_address(&format!("  {MAIN_P2TR}\n"), Network::Mainnet).unwrap();
    assert_eq!(a.as_str(), MAIN_P2TR);
}

#[test]
fn mixed_case_bech32_is_refused() {
    // BIP-350 invalid vector "Mixed case".
    let s = "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq";
    assert_eq!(
        parse_address(s, Network::Testnet),
        Err(AddressError::MixedCase)
    );
}

#[test]
fn wrong_bech32_checksum_is_a_typo() {
    // Last character changed.
    let mut s = MAIN_P2TR.to_owned();
    s.pop();
    s.push('q');
    assert_eq!(
        parse_address(&s, Network::Mainnet),
        Err(AddressError::BadChecksum)
    );
    let s = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5";
    assert_eq!(
        parse_address(s, Network::Mainnet),
        Err(AddressError::BadChecksum)
    );
    // A typo on another network is still reported as a typo first.
    assert_eq!(
        parse_address(s, Network::Regtest),
        Err(AddressError::BadChecksum)
    );
    // BIP-350 invalid vector "Invalid character in checksum" (`o`).
    let s = "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4";
    assert_eq!(
        parse_address(s, Network::Mainnet),
        Err(AddressError::InvalidCharacter)
    );
    // A space inside.
    let s = "bc1 qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4";
    assert_eq!(
        parse_address(s, Network::Mainnet),
        Err(AddressError::InvalidCharacter)
    );
    // `1` typed for `l`.
    let s = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t1";
    assert_eq!(
        parse_address(s, Network::Mainnet),
        Err(AddressError::InvalidCharacter)
    );
}

#[test]
fn bech32_vs_bech32m_misuse_is_named() {
    // BIP-350 invalid vectors: "Bech32 instead of Bech32m" and the reverse.
    let v1_in_bech32 = "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd";
    assert_eq!(
        parse_address(v1_in_bech32, Network::Mainnet),
        Err(AddressError::WrongChecksumVariant { witness_version: 1 })
    );
    let v2_in_bech32 = "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf";
    assert_eq!(
        parse_address(v2_in_bech32, Network::Testnet),
        Err(AddressError::WrongChecksumVariant { witness_version: 2 })
    );
    let v0_in_bech32m = "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh";
    assert_eq!(
        parse_address(v0_in_bech32m, Network::Mainnet),
        Err(AddressError::WrongChecksumVariant { witness_version: 0 })
    );
    let v0_in_bech32m = "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47";
    assert_eq!(
        parse_address(v0_in_bech32m, Network::Testnet),
        Err(AddressError::WrongChecksumVariant { witness_version: 0 })
    );
    let msg = parse_address(v1_in_bech32, Network::Mainnet)
        .unwrap_err()
        .to_string();
    assert!(msg.contains("up-to-date wallet"), "{msg}");
}

#[test]
fn future_witness_versions_are_unsupported() {
    // BIP-350 valid vectors for v1 (40-byte program), v16 and v2.
    for s in [
        "bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
        "BC1SW50QGDZ25J",
        "bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs",
    ] {
        let err = parse_address(s, Network::Mainnet).unwrap_err();
        assert!(
            matches!(err, AddressError::Unsupported { .. }),
            "{s}: {err:?}"
        );
        assert!(err.to_string().contains("give a P2WPKH"), "{err}");
    }
    let err = parse_address("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", Network::Mainnet).unwrap_err();
    assert!(
        err.to_string().starts_with("segwit version 2 addresses"),
        "{err}"
    );
}

#[test]
fn pay_to_anchor_is_unsupported() {
    // P2A: witness v1 with the 2-byte program 4e73.
    let p2a = "bc1pfeessrawgf";
    let err = parse_address(p2a, Network::Mainnet).unwrap_err();
    assert!(matches!(err, AddressError::Unsupported { .. }), "{err:?}");
}

#[test]
fn malformed_bech32_is_not_an_address() {
    // BIP-350 invalid vectors: bad version, program lengths, padding, empty data.
    for s in [
        "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R",
        "bc1pw5dgrnzv",
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav",
        "BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P",
        "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf",
        "bc1gmk9yu",
    ] {
        let err = parse_address(s, Network::Mainnet).unwrap_err();
        assert!(
            matches!(err, AddressError::NotAnAddress { .. }),
            "{s}: {err:?}"
        );
    }
    let s = "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j";
    let err = parse_address(s, Network::Testnet).unwrap_err();
    assert!(
        matches!(err, AddressError::NotAnAddress { .. }),
        "{s}: {err:?}"
    );
}

#[test]
fn network_mismatches_say_what_the_address_is() {
    let err = parse_address(MAIN_P2TR, Network::Regtest).unwrap_err();
    assert_eq!(
        err,
        AddressError::WrongNetwork {
            found: AddressNetwork::Mainnet,
            expected: Network::Regtest
        }
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("this is a mainnet address; the coordinator runs on regtest"),
        "{msg}"
    );
    assert!(msg.contains("bcrt1q"), "{msg}");

    // tb1 is testnet/signet, not regtest; bcrt1 is not testnet.
    let regtest = Address::p2wpkh(&compressed(3), KnownHrp::Regtest).to_string();
    for (s, net, found) in [
        (TEST_P2TR, Network::Regtest, AddressNetwork::TestnetOrSignet),
        (TEST_P2TR, Network::Mainnet, AddressNetwork::TestnetOrSignet),
        (regtest.as_str(), Network::Testnet, AddressNetwork::Regtest),
        (regtest.as_str(), Network::Signet, AddressNetwork::Regtest),
        (regtest.as_str(), Network::Mainnet, AddressNetwork::Regtest),
        (MAIN_P2PKH, Network::Testnet, AddressNetwork::Mainnet),
        (MAIN_P2SH, Network::Regtest, AddressNetwork::Mainnet),
        (MAIN_P2WSH, Network::Signet, AddressNetwork::Mainnet),
    ] {
        assert_eq!(
            parse_address(s, net),
            Err(AddressError::WrongNetwork {
                found,
                expected: net
            }),
            "{s} on {net}"
        );
    }
    let test_pkh = Address::p2pkh(compressed(3), bitcoin::NetworkKind::Test).to_string();
    let err = parse_address(&test_pkh, Network::Mainnet).unwrap_err();
    assert_eq!(
        err.to_string(),
        "this is a test-network address; the coordinator runs on mainnet: give a mainnet address (bc1q…, bc1p…, 1… or 3…)"
    );
}

#[test]
fn wrong_base58_checksum_is_a_typo() {
    let mut s = MAIN_P2PKH.to_owned();
    s.pop();
    s.push('b');
    assert_eq!(
        parse_address(&s, Network::Mainnet),
        Err(AddressError::BadChecksum)
    );
    // `0` (not in base58) typed into an address-shaped string.
    let s = MAIN_P2PKH.replacen('z', "0", 1);
    assert_eq!(
        parse_address(&s, Network::Mainnet),
        Err(AddressError::InvalidCharacter)
    );
    // Random text in the base58 alphabet is not called a typo.
    let err = parse_address("hello2world", Network::Mainnet).unwrap_err();
    assert!(matches!(err, AddressError::NotAnAddress { .. }), "{err:?}");
}

#[test]
fn keys_and_uris_get_their_own_messages() {
    // WIF of the secret key 1 (compressed) and a classic uncompressed WIF.
    for wif in [
        "KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn",
        "5HueCGU8rMjxEXxiPuD5BDku4MkFqeZyd4dZ1jvhTVqvbTLvyTJ",
    ] {
        let err = parse_address(wif, Network::Mainnet).unwrap_err();
        assert_eq!(err, AddressError::PrivateKey);
        assert!(!err.to_string().contains(wif));
    }
    assert_eq!(
        parse_address(&key(9).to_wif(), Network::Regtest),
        Err(AddressError::PrivateKey)
    );
    // BIP-32 test vector 1, master xpub and xprv.
    for xkey in [
        "xpub661MyMwAqRbcFtXgS5sYJABqqG9YLmC4Q1Rdap9gSE8NqtwybGhePY2gZ29ESFjqJoCu1Rupje8YtGqsefD265TMg7usUDFdp6W1EGMcet8",
        "xprv9s21ZrQH143K3QTDL4LXw2F7HEK3wJUD2nW2nRk4stbPy6cq3jPPqjiChkVvvNKmPGJxWUtg6LnF5kejMRNNU3TGtRBeJgk33yuGBxrMPHi",
    ] {
        assert_eq!(
            parse_address(xkey, Network::Mainnet),
            Err(AddressError::ExtendedKey)
        );
    }
    let uri = format!("bitcoin:{MAIN_P2TR}?amount=0.1");
    assert_eq!(
        parse_address(&uri, Network::Mainnet),
        Err(AddressError::PaymentUri)
    );
    assert_eq!(
        parse_address(&uri.to_uppercase(), Network::Mainnet),
        Err(AddressError::PaymentUri)
    );
}

#[test]
fn empty_long_and_garbage_inputs_are_refused() {
    assert_eq!(
        parse_address("", Network::Mainnet),
        Err(AddressError::Empty)
    );
    assert_eq!(
        parse_address(" \t\n", Network::Mainnet),
        Err(AddressError::Empty)
    );
    let long = "b".repeat(MAX_ADDRESS_INPUT_LEN + 1);
    assert_eq!(
        parse_address(&long, Network::Mainnet),
        Err(AddressError::TooLong {
            len: MAX_ADDRESS_INPUT_LEN + 1
        })
    );
    for s in [
        "hello",
        "0x52908400098527886E0F7030069857D2E4169EE7",
        "lnbc1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypqdpl2pkx2ctnv5sxxmmwwd5kgetjypeh2ursdae8g6twvus8g6rfwvs8qun0dfjkxaq",
        "bc1",
        "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa\u{0}",
        "ébc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4",
    ] {
        let err = parse_address(s, Network::Mainnet).unwrap_err();
        assert!(
            matches!(
                err,
                AddressError::NotAnAddress { .. }
                    | AddressError::TooLong { .. }
                    | AddressError::InvalidCharacter
            ),
            "{s:?}: {err:?}"
        );
        let msg = err.to_string();
        assert!(msg.contains(':'), "every message says what to do: {msg}");
    }
}

#[test]
fn multibyte_input_does_not_panic_on_prefix_checks() {
    for s in ["é", "bé1", "tb", "b\u{301}c1", "€€€€€€€€€€€€"] {
        assert!(parse_address(s, Network::Regtest).is_err());
    }
}

#[test]
fn equality_and_serialisation_use_the_normalised_text() {
    let a = parse_address(MAIN_P2WPKH_UPPER, Network::Mainnet).unwrap();
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        "\"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4\""
    );
    assert_eq!(a.to_string(), a.as_str());
    let t = parse_address(TEST_P2TR, Network::Testnet).unwrap();
    let s = parse_address(TEST_P2TR, Network::Signet).unwrap();
    assert_ne!(t, s, "the network is part of the identity");
    assert_eq!(
        serde_json::to_string(&AddressKind::P2tr).unwrap(),
        "\"p2tr\""
    );
}
