//! Published test vectors, each with where it comes from.
//!
//! - BIP-322 "Test vectors" section (bitcoin/bips, bip-0322.mediawiki): the
//!   key L3VFeEujGtevx9w18HD1fhRbCH67Az2dpCymeRE1SoPK6XQtaN2k, its P2WPKH
//!   address and the "" / "Hello World" signatures. The second pair of
//!   P2WPKH signatures (`AkgwRQIh…`) is the one Bitcoin Core's signer makes
//!   today; the BIP lists both.
//! - Bitcoin Core src/test/util_tests.cpp (commit 29b28d07, line 2747): the
//!   P2TR "Hello World" signature of the same key.
//! - bip322-js test/Verifier.test.ts: the P2SH-P2WPKH vector.
//! - bitcoin/bips bip-0322/basic-test-vectors.json: the variant-prefix cases.
//! - Bitcoin Core src/test/util_tests.cpp `message_sign` / `message_verify`:
//!   the legacy signmessage vectors.
//!
//! All of these are also carried in the `bip322` 0.0.12 crate's tests, from
//! where they were copied and checked against the sources named above.

use bitcoin::secp256k1::SecretKey;
use bitcoin::{NetworkKind, PrivateKey};
use resist_ownership::{
    AddressKind, Network, ProofError, ProofKind, address_for_test_wif, parse_address,
    sign_for_test_network, verify,
};

const BIP322_WIF: &str = "L3VFeEujGtevx9w18HD1fhRbCH67Az2dpCymeRE1SoPK6XQtaN2k";
const BIP322_P2WPKH: &str = "bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l";
const BIP322_P2TR: &str = "bc1ppv609nr0vr25u07u95waq5lucwfm6tde4nydujnu8npg4q75mr5sxq8lt3";
const BIP322_P2PKH: &str = "14vV3aCHBeStb5bkenkNHbe2YAFinYdXgc";

const EMPTY_SIG_OLD: &str = "AkcwRAIgM2gBAQqvZX15ZiysmKmQpDrG83avLIT492QBzLnQIxYCIBaTpOaD20qRlEylyxFSeEA2ba9YOixpX8z46TSDtS40ASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI=";
const HELLO_SIG_OLD: &str = "AkcwRAIgZRfIY3p7/DoVTty6YZbWS71bc5Vct9p9Fia83eRmw2QCICK/ENGfwLtptFluMGs2KsqoNSk89pO7F29zJLUx9a/sASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI=";
const EMPTY_SIG: &str = "AkgwRQIhAPkJ1Q4oYS0htvyuSFHLxRQpFAY56b70UvE7Dxazen0ZAiAtZfFz1S6T6I23MWI2lK/pcNTWncuyL8UL+oMdydVgzAEhAsfxIAMZZEKUPYWI4BruhAQjzFT8FSFSajuFwrDL1Yhy";
const HELLO_SIG: &str = "AkgwRQIhAOzyynlqt93lOKJr+wmmxIens//zPzl9tqIOua93wO6MAiBi5n5EyAcPScOjf1lAqIUIQtr3zKNeavYabHyR8eGhowEhAsfxIAMZZEKUPYWI4BruhAQjzFT8FSFSajuFwrDL1Yhy";
const HELLO_SIG_P2TR: &str =
    "AUHd69PrJQEv+oKTfZ8l+WROBHuy9HKrbFCJu7U1iK2iiEy1vMU5EfMtjc+VSHM7aU0SDbak5IUZRVno2P5mjSafAQ==";

const NESTED_WIF: &str = "KwTbAxmBXjoZM3bzbXixEr9nxLhyYSM4vp2swet58i19bw9sqk5z";
const NESTED_P2SH_P2WPKH: &str = "3HSVzEhCFuH9Z3wvoWTexy7BMVVp3PjS6f";
const NESTED_HELLO_SIG: &str = "AkgwRQIhAMd2wZSY3x0V9Kr/NClochoTXcgDaGl3OObOR17yx3QQAiBVWxqNSS+CKen7bmJTG6YfJjsggQ4Fa2RHKgBKrdQQ+gEhAxa5UDdQCHSQHfKQv14ybcYm1C9y6b12xAuukWzSnS+w";

// Bitcoin Core util_tests.cpp message_sign: "just some random data".
const CORE_SECRET: &str = "d97f5108f11cda6eeebaaa420fef0726b1f898060b98489fa3098463c0032866";
const CORE_ADDR: &str = "15CRxFdyRpGZLW9w8HnHvVduizdL5jKNbs";
const CORE_SIG: &str =
    "IPojfrX2dfPnH26UegfbGQQLrdK844DlHq5157/P6h57WyuS/Qsl+h/WSVGDF4MUi4rWSswW38oimDYfNNUBUOk=";
// util_tests.cpp message_verify: a crafted signature that Core accepts.
const CORE_CRAFTED_ADDR: &str = "11canuhp9X2NocwCq7xNrQYTmUgZAnLK3";
const CORE_CRAFTED_SIG: &str =
    "IIcaIENoYW5jZWxsb3Igb24gYnJpbmsgb2Ygc2Vjb25kIGJhaWxvdXQgZm9yIGJhbmtzIAaHRtbCeDZINyavx14=";

fn mainnet(s: &str) -> resist_ownership::PayoutAddress {
    parse_address(s, Network::Mainnet).unwrap()
}

/// The same secret as a test-network WIF, so our test-only signer may use it.
fn as_test_wif(mainnet_wif: &str) -> String {
    let mut key = PrivateKey::from_wif(mainnet_wif).unwrap();
    key.network = NetworkKind::Test;
    key.to_wif()
}

#[test]
fn bip322_p2wpkh_vectors_verify() {
    let a = mainnet(BIP322_P2WPKH);
    for (message, sig) in [
        ("", EMPTY_SIG_OLD),
        ("Hello World", HELLO_SIG_OLD),
        ("", EMPTY_SIG),
        ("Hello World", HELLO_SIG),
    ] {
        assert_eq!(
            verify(&a, message, sig),
            Ok(ProofKind::Bip322Simple),
            "{message:?}"
        );
        assert_eq!(
            verify(&a, message, &format!("smp{sig}")),
            Ok(ProofKind::Bip322Simple)
        );
    }
}

#[test]
fn bip322_p2wpkh_vectors_fail_for_other_messages_and_addresses() {
    let a = mainnet(BIP322_P2WPKH);
    // The bip322 crate's "this should fail" cases.
    assert!(verify(&a, "Hello World - this should fail", HELLO_SIG).is_err());
    assert!(verify(&a, "fail", EMPTY_SIG_OLD).is_err());
    // The empty-message signature does not sign "Hello World" and v.v.
    assert!(verify(&a, "Hello World", EMPTY_SIG).is_err());
    assert!(verify(&a, "", HELLO_SIG).is_err());
    // Same key, other address types.
    assert!(verify(&mainnet(BIP322_P2TR), "Hello World", HELLO_SIG).is_err());
    assert!(verify(&mainnet(NESTED_P2SH_P2WPKH), "Hello World", HELLO_SIG).is_err());
    assert!(verify(&mainnet(BIP322_P2PKH), "Hello World", HELLO_SIG).is_err());
}

#[test]
fn bip322_p2tr_vector_verifies() {
    let a = mainnet(BIP322_P2TR);
    assert_eq!(
        verify(&a, "Hello World", HELLO_SIG_P2TR),
        Ok(ProofKind::Bip322Simple)
    );
    assert!(matches!(
        verify(&a, "Hello World -- This should fail", HELLO_SIG_P2TR),
        Err(ProofError::Mismatch { .. })
    ));
}

#[test]
fn bip322js_p2sh_p2wpkh_vector_verifies() {
    let a = mainnet(NESTED_P2SH_P2WPKH);
    assert_eq!(a.kind(), AddressKind::P2sh);
    assert_eq!(
        verify(&a, "Hello World", NESTED_HELLO_SIG),
        Ok(ProofKind::Bip322Simple)
    );
    assert!(verify(&a, "Hello World - this should fail", NESTED_HELLO_SIG).is_err());
}

#[test]
fn basic_test_vectors_prefix_cases() {
    // "No prefix fallback": an unprefixed simple signature.
    let a = mainnet("bc1pss0zhytly75awhm6x2hhvd5lnzv3vssgrf9axfheq8ldyzn88ges79fler");
    let sig =
        "AUCJYOwOjxYAvatTAGYaVlNXBVyFuc4MwNQkOuK2tl8xhfKDONd0NjfYyNSYcRqeCp8hsAnCEPHAVEkO9h6vbQ/R";
    assert_eq!(
        verify(&a, "No prefix fallback", sig),
        Ok(ProofKind::Bip322Simple)
    );
    // "incorrect prefix": a simple signature labelled "ful" must not verify.
    let a = mainnet("bc1pyrgrm6cu6n54jrvkdjd9rvyd3xfyu84s2623awu2srn6mxhscwpsm5644w");
    let sig = "fulAUDZwFXUp+adN+/UZj5dVrGAbB3zKs1Vcalz5fCF9srxS63eSWNGvH1NYbrBkPt1BJDUyWUz9zgUxfc63/QheT6M";
    assert!(matches!(
        verify(&a, "incorrect prefix", sig),
        Err(ProofError::Malformed { .. })
    ));
    // With the prefix removed it is a valid simple signature.
    assert_eq!(
        verify(&a, "incorrect prefix", &sig[3..]),
        Ok(ProofKind::Bip322Simple)
    );
}

#[test]
fn bitcoin_core_legacy_vectors() {
    let a = mainnet(CORE_ADDR);
    assert_eq!(verify(&a, "Trust no one", CORE_SIG), Ok(ProofKind::Legacy));
    assert_eq!(
        verify(&a, "I never signed this", CORE_SIG),
        Err(ProofError::Mismatch {
            address: CORE_ADDR.to_owned()
        })
    );
    assert_eq!(
        verify(&mainnet(CORE_CRAFTED_ADDR), "Trust me", CORE_CRAFTED_SIG),
        Ok(ProofKind::Legacy)
    );
    // Core's malformed cases.
    assert_eq!(
        verify(
            &a,
            "message should be irrelevant",
            "invalid signature, not in base64 encoding"
        ),
        Err(ProofError::NotBase64)
    );
    assert!(verify(&a, "message should be irrelevant", &"A".repeat(88)).is_err());
}

#[test]
fn our_test_signer_reproduces_the_published_signatures() {
    // BIP-322 signatures commit to the output script, not to the address
    // text, so the testnet address of the same key gets the same bytes.
    let wif = as_test_wif(BIP322_WIF);
    let wpkh = address_for_test_wif(&wif, AddressKind::P2wpkh, Network::Testnet).unwrap();
    assert_eq!(wpkh.script_pubkey(), mainnet(BIP322_P2WPKH).script_pubkey());
    assert_eq!(
        sign_for_test_network(&wif, &wpkh, "Hello World").unwrap(),
        HELLO_SIG
    );
    assert_eq!(sign_for_test_network(&wif, &wpkh, "").unwrap(), EMPTY_SIG);

    let tr = address_for_test_wif(&wif, AddressKind::P2tr, Network::Signet).unwrap();
    assert_eq!(tr.script_pubkey(), mainnet(BIP322_P2TR).script_pubkey());
    assert_eq!(
        sign_for_test_network(&wif, &tr, "Hello World").unwrap(),
        HELLO_SIG_P2TR
    );

    let pkh = address_for_test_wif(&wif, AddressKind::P2pkh, Network::Regtest).unwrap();
    assert_eq!(pkh.script_pubkey(), mainnet(BIP322_P2PKH).script_pubkey());

    let nested = as_test_wif(NESTED_WIF);
    let sh = address_for_test_wif(&nested, AddressKind::P2sh, Network::Testnet).unwrap();
    assert_eq!(
        sh.script_pubkey(),
        mainnet(NESTED_P2SH_P2WPKH).script_pubkey()
    );
    assert_eq!(
        sign_for_test_network(&nested, &sh, "Hello World").unwrap(),
        NESTED_HELLO_SIG
    );

    // Bitcoin Core's legacy vector, from the raw secret.
    let secret = SecretKey::from_slice(&hex(CORE_SECRET)).unwrap();
    let core_wif = PrivateKey::new(secret, NetworkKind::Test).to_wif();
    let core = address_for_test_wif(&core_wif, AddressKind::P2pkh, Network::Testnet).unwrap();
    assert_eq!(core.script_pubkey(), mainnet(CORE_ADDR).script_pubkey());
    assert_eq!(
        sign_for_test_network(&core_wif, &core, "Trust no one").unwrap(),
        CORE_SIG
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
