//! Unit tests for format detection, limits and error mapping. Valid
//! signatures from other signers are in `tests/testvec_*.rs`.

use super::*;
use crate::{Network, parse_address};

// BIP-322 test-vector address and signature ("Hello World", P2WPKH).
const ADDR: &str = "bc1q9vza2e8x573nczrlzms0wvx3gsqjx7vavgkx0l";
const SIG: &str = "AkcwRAIgZRfIY3p7/DoVTty6YZbWS71bc5Vct9p9Fia83eRmw2QCICK/ENGfwLtptFluMGs2KsqoNSk89pO7F29zJLUx9a/sASECx/EgAxlkQpQ9hYjgGu6EBCPMVPwVIVJqO4XCsMvViHI=";
const TAPROOT: &str = "bc1ppv609nr0vr25u07u95waq5lucwfm6tde4nydujnu8npg4q75mr5sxq8lt3";
const P2PKH: &str = "14vV3aCHBeStb5bkenkNHbe2YAFinYdXgc";
const P2WSH: &str = "bc1qg8r3cl47rrr75dwvr7jhzdukptegnmq8v0nmjd2jdn4qvlczqkts0rqtav";

fn addr(s: &str) -> PayoutAddress {
    parse_address(s, Network::Mainnet).unwrap()
}

#[test]
fn accepts_prefixed_unprefixed_wrapped_and_unpadded() {
    let a = addr(ADDR);
    assert_eq!(verify(&a, "Hello World", SIG), Ok(ProofKind::Bip322Simple));
    assert_eq!(
        verify(&a, "Hello World", &format!("smp{SIG}")),
        Ok(ProofKind::Bip322Simple)
    );
    assert_eq!(
        verify(&a, "Hello World", &format!("  {SIG}\n")),
        Ok(ProofKind::Bip322Simple)
    );
    let (head, tail) = SIG.split_at(40);
    assert_eq!(
        verify(&a, "Hello World", &format!("{head}\n{tail}")),
        Ok(ProofKind::Bip322Simple)
    );
    assert_eq!(
        verify(&a, "Hello World", SIG.trim_end_matches('=')),
        Ok(ProofKind::Bip322Simple)
    );
}

#[test]
fn the_message_is_compared_byte_for_byte() {
    let a = addr(ADDR);
    for m in [
        "Hello World\n",
        "Hello World ",
        "hello World",
        " Hello World",
    ] {
        assert_eq!(
            verify(&a, m, SIG),
            Err(ProofError::Mismatch {
                address: ADDR.to_owned()
            }),
            "{m:?}"
        );
    }
}

#[test]
fn mismatch_message_names_the_address_and_what_to_do() {
    let err = verify(&addr(ADDR), "Hello", SIG).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "the signature does not match this address and message: sign exactly the challenge line, with the key of {ADDR}"
        )
    );
}

#[test]
fn size_limits_apply_before_decoding() {
    let a = addr(ADDR);
    let long_message = "m".repeat(MAX_MESSAGE_LEN + 1);
    assert_eq!(
        verify(&a, &long_message, SIG),
        Err(ProofError::MessageTooLong {
            len: MAX_MESSAGE_LEN + 1
        })
    );
    assert!(verify(&a, &"m".repeat(MAX_MESSAGE_LEN), SIG).is_err());
    let long_sig = "A".repeat(MAX_SIGNATURE_LEN + 1);
    assert_eq!(
        verify(&a, "x", &long_sig),
        Err(ProofError::SignatureTooLong {
            len: MAX_SIGNATURE_LEN + 1
        })
    );
    // Whitespace around does not count against the limit.
    let padded = format!("{}{SIG}{}", " ".repeat(MAX_SIGNATURE_LEN), "\n".repeat(10));
    assert_eq!(
        verify(&a, "Hello World", &padded),
        Ok(ProofKind::Bip322Simple)
    );
}

#[test]
fn empty_armored_pof_and_non_base64_have_their_own_errors() {
    let a = addr(ADDR);
    assert_eq!(verify(&a, "m", ""), Err(ProofError::EmptySignature));
    assert_eq!(verify(&a, "m", " \n\t"), Err(ProofError::EmptySignature));
    let armored = format!(
        "-----BEGIN BITCOIN SIGNED MESSAGE-----\nm\n-----BEGIN SIGNATURE-----\n{ADDR}\n{SIG}\n-----END BITCOIN SIGNED MESSAGE-----"
    );
    assert_eq!(verify(&a, "m", &armored), Err(ProofError::Armored));
    assert_eq!(
        verify(&a, "m", &format!("pof{SIG}")),
        Err(ProofError::ProofOfFunds)
    );
    for s in ["not base64!", "AkcwRAIg*", "smp!!!", "é"] {
        assert_eq!(verify(&a, "m", s), Err(ProofError::NotBase64), "{s}");
    }
}

#[test]
fn undecodable_bytes_are_malformed() {
    let a = addr(ADDR);
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    // 65 bytes with a header outside 27..=42.
    let mut legacy_like = [7u8; 65];
    legacy_like[0] = 43;
    assert!(matches!(
        verify(&a, "m", &b64(&legacy_like)),
        Err(ProofError::Malformed { .. })
    ));
    // Neither a witness nor a transaction.
    assert!(matches!(
        verify(&a, "m", &b64(&[0xff; 10])),
        Err(ProofError::Malformed { .. })
    ));
    // A declared simple proof that is not a witness, a declared full proof
    // that is not a transaction.
    assert!(matches!(
        verify(&a, "m", &format!("smp{}", b64(&[0x05, 0x01]))),
        Err(ProofError::Malformed { .. })
    ));
    assert!(matches!(
        verify(&a, "m", &format!("ful{SIG}")),
        Err(ProofError::Malformed { .. })
    ));
    // A legacy signature with r and s above the group order cannot be parsed.
    let mut big = [0xffu8; 65];
    big[0] = 31;
    assert!(matches!(
        verify(&a, "m", &b64(&big)),
        Err(ProofError::Malformed { .. })
    ));
    // r = s = 0 parses, but no key can be recovered: that depends on the
    // message, so it is reported as a mismatch.
    let mut zero = [0u8; 65];
    zero[0] = 31;
    assert_eq!(
        verify(&a, "m", &b64(&zero)),
        Err(ProofError::Mismatch {
            address: ADDR.to_owned()
        })
    );
}

#[test]
fn legacy_cannot_prove_taproot_or_p2wsh_and_simple_cannot_prove_p2pkh() {
    // Bitcoin Core util_tests.cpp message_sign vector (any legacy signature
    // will do: the format check comes first).
    let legacy =
        "IPojfrX2dfPnH26UegfbGQQLrdK844DlHq5157/P6h57WyuS/Qsl+h/WSVGDF4MUi4rWSswW38oimDYfNNUBUOk=";
    for (address, kind) in [(TAPROOT, AddressKind::P2tr), (P2WSH, AddressKind::P2wsh)] {
        let err = verify(&addr(address), "Trust no one", legacy).unwrap_err();
        assert_eq!(
            err,
            ProofError::FormatNotForAddress {
                format: ProofKind::Legacy,
                kind
            }
        );
    }
    let msg = verify(&addr(TAPROOT), "x", legacy).unwrap_err().to_string();
    assert!(msg.contains("only be proven with BIP-322"), "{msg}");

    let err = verify(&addr(P2PKH), "Hello World", SIG).unwrap_err();
    assert_eq!(
        err,
        ProofError::FormatNotForAddress {
            format: ProofKind::Bip322Simple,
            kind: AddressKind::P2pkh
        }
    );
    assert!(err.to_string().contains("sign message"), "{err}");
}

#[test]
fn a_p2wpkh_witness_against_a_taproot_address_is_a_mismatch() {
    assert_eq!(
        verify(&addr(TAPROOT), "Hello World", SIG),
        Err(ProofError::Mismatch {
            address: TAPROOT.to_owned()
        })
    );
}

#[test]
fn proof_kind_names() {
    assert_eq!(ProofKind::Bip322Simple.as_str(), "bip322-simple");
    assert_eq!(ProofKind::Bip322Full.to_string(), "bip322-full");
    assert_eq!(
        serde_json::to_string(&ProofKind::Legacy).unwrap(),
        "\"legacy\""
    );
    assert_eq!(
        serde_json::to_string(&ProofKind::Bip322Simple).unwrap(),
        "\"bip322-simple\""
    );
}

#[test]
fn every_error_message_says_what_to_do() {
    let errors = [
        ProofError::MessageTooLong { len: 3000 },
        ProofError::SignatureTooLong { len: 5000 },
        ProofError::EmptySignature,
        ProofError::Armored,
        ProofError::NotBase64,
        ProofError::Malformed { reason: "r" },
        ProofError::ProofOfFunds,
        ProofError::FormatNotForAddress {
            format: ProofKind::Legacy,
            kind: AddressKind::P2tr,
        },
        ProofError::Mismatch {
            address: ADDR.to_owned(),
        },
        ProofError::UnsupportedSighash,
        ProofError::Timelocked,
        ProofError::Inconclusive {
            kind: AddressKind::P2wsh,
        },
    ];
    for e in errors {
        let m = e.to_string();
        assert!(m.contains(": "), "advice after a colon: {m}");
        assert!(
            m.split(": ")
                .nth(1)
                .is_some_and(|advice| !advice.is_empty()),
            "{m}"
        );
    }
}
