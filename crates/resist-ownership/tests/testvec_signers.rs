//! Signatures made by code other than ours, verified by ours.
//!
//! - `vectors/bip322js.json`: bip322-js 3.0.0 (npm) with bitcoinjs-lib and
//!   bitcoinjs-message: BIP-322 simple for P2WPKH, P2TR and P2SH-P2WPKH,
//!   legacy for P2PKH (compressed and uncompressed keys), and BIP-137
//!   segwit headers (Trezor style) for P2WPKH and P2SH-P2WPKH; on mainnet,
//!   testnet and regtest.
//! - `vectors/electrum.json`: Electrum 4.3.4 (Debian python3-electrum)
//!   `wallet.sign_message`: legacy-format signatures for P2WPKH (HD seed
//!   wallet and imported key), P2SH-P2WPKH and P2PKH; on mainnet, testnet,
//!   signet and regtest.
//!
//! The generators are next to the JSON (see `vectors/README.md`); these
//! tests need neither node nor Electrum.

use resist_ownership::{
    AddressKind, Network, PayoutAddress, ProofError, ProofKind, address_for_test_wif,
    parse_address, sign_for_test_network, verify,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct File {
    signer: String,
    vectors: Vec<Vector>,
}

#[derive(Debug, Clone, Deserialize)]
struct Vector {
    signer: String,
    network: Network,
    kind: String,
    format: String,
    note: String,
    address: String,
    wif: Option<String>,
    message: String,
    signature: String,
}

impl Vector {
    fn address(&self) -> PayoutAddress {
        parse_address(&self.address, self.network)
            .unwrap_or_else(|e| panic!("{}: {e}", self.address))
    }

    fn kind(&self) -> AddressKind {
        match self.kind.as_str() {
            "p2wpkh" => AddressKind::P2wpkh,
            "p2tr" => AddressKind::P2tr,
            "p2sh" => AddressKind::P2sh,
            "p2pkh" => AddressKind::P2pkh,
            other => panic!("unknown kind {other}"),
        }
    }

    fn format(&self) -> ProofKind {
        match self.format.as_str() {
            "bip322-simple" => ProofKind::Bip322Simple,
            "bip322-full" => ProofKind::Bip322Full,
            "legacy" => ProofKind::Legacy,
            other => panic!("unknown format {other}"),
        }
    }

    fn describe(&self) -> String {
        format!(
            "{} / {} / {} {}",
            self.signer, self.note, self.network, self.address
        )
    }
}

fn load(json: &str) -> File {
    serde_json::from_str(json).unwrap()
}

fn bip322js() -> File {
    load(include_str!("vectors/bip322js.json"))
}

fn electrum() -> File {
    load(include_str!("vectors/electrum.json"))
}

fn all() -> Vec<Vector> {
    let mut v = bip322js().vectors;
    v.extend(electrum().vectors);
    v
}

/// The message with its last character replaced by a different one.
fn one_char_changed(message: &str) -> String {
    let mut m = message.to_owned();
    let last = m.pop();
    m.push(if last == Some('x') { 'y' } else { 'x' });
    m
}

#[test]
fn the_vector_files_hold_what_the_generators_promise() {
    let b = bip322js();
    assert!(b.signer.starts_with("bip322-js 3.0.0"), "{}", b.signer);
    assert_eq!(b.vectors.len(), 37);
    let e = electrum();
    assert!(e.signer.starts_with("Electrum 4.3.4"), "{}", e.signer);
    assert_eq!(e.vectors.len(), 22);

    let count = |f: &File, kind: &str, format: &str| {
        f.vectors
            .iter()
            .filter(|v| v.kind == kind && v.format == format)
            .count()
    };
    assert_eq!(count(&b, "p2wpkh", "bip322-simple"), 7);
    assert_eq!(count(&b, "p2tr", "bip322-simple"), 7);
    assert_eq!(count(&b, "p2sh", "bip322-simple"), 7);
    assert_eq!(count(&b, "p2pkh", "legacy"), 10);
    assert_eq!(count(&b, "p2wpkh", "legacy"), 3);
    assert_eq!(count(&b, "p2sh", "legacy"), 3);
    assert_eq!(count(&e, "p2wpkh", "legacy"), 14);
    assert_eq!(count(&e, "p2sh", "legacy"), 4);
    assert_eq!(count(&e, "p2pkh", "legacy"), 4);
    for net in [Network::Mainnet, Network::Testnet, Network::Regtest] {
        assert!(b.vectors.iter().any(|v| v.network == net));
        assert!(e.vectors.iter().any(|v| v.network == net));
    }
    assert!(e.vectors.iter().any(|v| v.network == Network::Signet));
}

#[test]
fn every_vector_verifies_with_its_format() {
    let vectors = all();
    for v in &vectors {
        let address = v.address();
        assert_eq!(address.kind(), v.kind(), "{}", v.describe());
        assert_eq!(
            verify(&address, &v.message, &v.signature),
            Ok(v.format()),
            "{}",
            v.describe()
        );
    }
}

#[test]
fn bip137_segwit_headers_and_electrum_headers_are_what_we_think() {
    use base64::Engine as _;
    let header = |v: &Vector| {
        base64::engine::general_purpose::STANDARD
            .decode(&v.signature)
            .unwrap()[0]
    };
    for v in bip322js().vectors.iter().filter(|v| v.format == "legacy") {
        let h = header(v);
        let expected = match (v.kind.as_str(), v.note.as_str()) {
            ("p2wpkh", _) => 39..=42,
            ("p2sh", _) => 35..=38,
            (_, n) if n.contains("uncompressed") => 27..=30,
            _ => 31..=34,
        };
        assert!(expected.contains(&h), "{}: header {h}", v.describe());
    }
    // Electrum uses the compressed P2PKH header whatever the address type.
    for v in electrum().vectors {
        let h = header(&v);
        assert!((31..=34).contains(&h), "{}: header {h}", v.describe());
    }
}

#[test]
fn a_one_character_change_of_the_message_fails() {
    for v in all() {
        let address = v.address();
        let changed = one_char_changed(&v.message);
        assert_eq!(
            verify(&address, &changed, &v.signature),
            Err(ProofError::Mismatch {
                address: address.as_str().to_owned()
            }),
            "{}",
            v.describe()
        );
        // A trailing newline is a change too.
        assert!(verify(&address, &format!("{}\n", v.message), &v.signature).is_err());
    }
}

#[test]
fn a_signature_does_not_prove_another_address() {
    let vectors = all();
    for v in &vectors {
        // Every other address on the same network, of every type. A P2TR
        // witness against a P2SH address is BIP-322 "inconclusive" (one
        // witness item fits no P2SH form the verifier knows): also a refusal.
        for other in vectors
            .iter()
            .filter(|o| o.network == v.network && o.address != v.address)
        {
            let address = other.address();
            let err = verify(&address, &v.message, &v.signature).unwrap_err();
            assert!(
                matches!(
                    err,
                    ProofError::Mismatch { .. }
                        | ProofError::FormatNotForAddress { .. }
                        | ProofError::Inconclusive { .. }
                ),
                "{} against {}: {err:?}",
                v.describe(),
                other.address
            );
        }
    }
}

#[test]
fn a_signature_does_not_prove_the_same_key_on_another_network_prefix() {
    // BIP-322 and legacy signatures commit to the script, not the network, so
    // a testnet proof is also valid for the regtest address of the same key.
    // That is expected; what matters is that the address string itself must
    // be on the coordinator's network, which parse_address enforces.
    for v in all().iter().filter(|v| v.network == Network::Testnet) {
        assert!(
            parse_address(&v.address, Network::Mainnet).is_err(),
            "{}",
            v.address
        );
        if v.address.starts_with("tb1") {
            assert!(
                parse_address(&v.address, Network::Regtest).is_err(),
                "{}",
                v.address
            );
        }
    }
}

#[test]
fn our_address_derivation_agrees_with_the_other_signers() {
    let mut checked = 0;
    for v in all() {
        let Some(wif) = &v.wif else { continue };
        let ours = address_for_test_wif(wif, v.kind(), v.network)
            .unwrap_or_else(|e| panic!("{}: {e}", v.describe()));
        assert_eq!(ours.as_str(), v.address, "{}", v.describe());
        checked += 1;
    }
    assert_eq!(checked, 48);
}

#[test]
fn our_signer_makes_the_same_bytes_as_bip322js_where_both_are_deterministic() {
    // ECDSA with RFC 6979 nonces is deterministic in rust-secp256k1 and in
    // bip322-js/bitcoinjs-message, so BIP-322 simple for P2WPKH and
    // P2SH-P2WPKH, and legacy P2PKH, must come out byte-identical. (Schnorr
    // signatures differ: bip322-js draws auxiliary randomness.)
    let mut same = 0;
    for v in bip322js().vectors {
        let Some(wif) = &v.wif else { continue };
        let deterministic = matches!(
            (v.kind.as_str(), v.format.as_str()),
            ("p2wpkh" | "p2sh", "bip322-simple") | ("p2pkh", "legacy")
        );
        if !deterministic {
            continue;
        }
        let ours = sign_for_test_network(wif, &v.address(), &v.message).unwrap();
        assert_eq!(ours, v.signature, "{}", v.describe());
        same += 1;
    }
    assert_eq!(same, 20);
}

#[test]
fn our_taproot_signatures_verify_like_bip322js_ones() {
    for v in bip322js().vectors.iter().filter(|v| v.kind == "p2tr") {
        let Some(wif) = &v.wif else { continue };
        let address = v.address();
        let ours = sign_for_test_network(wif, &address, &v.message).unwrap();
        assert_ne!(ours, v.signature, "aux randomness makes these differ");
        assert_eq!(
            verify(&address, &v.message, &ours),
            Ok(ProofKind::Bip322Simple)
        );
    }
}
