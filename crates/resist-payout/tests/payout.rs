//! The payout building block on regtest: a watch-only treasury funded with
//! fabricated transactions, batched PSBTs, a test-only signer holding the
//! private key (signing like a hardware wallet would: `Psbt::sign` with the
//! root key, matched by key origin), and `check_signed` with Bitcoin Core's
//! script interpreter. An independent parser (embit, Python) reads the PSBT.

use std::collections::BTreeSet;
use std::process::Command;
use std::str::FromStr;

use bdk_wallet::bitcoin::absolute::LockTime;
use bdk_wallet::bitcoin::bip32::{DerivationPath, Xpriv, Xpub};
use bdk_wallet::bitcoin::hashes::Hash;
use bdk_wallet::bitcoin::key::{CompressedPublicKey, PrivateKey};
use bdk_wallet::bitcoin::secp256k1::{All, Secp256k1, SecretKey, schnorr};
use bdk_wallet::bitcoin::transaction::Version;
use bdk_wallet::bitcoin::{
    Address, Amount, BlockHash, Network as BtcNetwork, OutPoint, Psbt, ScriptBuf, Sequence,
    Transaction, TxIn, TxOut, Txid, Witness,
};
use bdk_wallet::miniscript::psbt::PsbtExt;
use resist_grants::AddressType;
use resist_ownership::Network;
use resist_payout::{
    BATCH_WEIGHT_LIMIT, FundingBlock, MAX_STANDARD_TX_WEIGHT, Payee, PayoutBatch, PayoutError,
    Treasury, build_payout_psbt, check_signed, psbt_from_base64, psbt_from_bytes,
};

const SEED: u64 = 42;

#[derive(Clone, Copy, Debug)]
enum Kind {
    Wpkh,
    Tr,
}

/// The funder's signing device (test only): holds the root private key.
struct Signer {
    secp: Secp256k1<All>,
    root: Xpriv,
}

impl Signer {
    fn new() -> Self {
        let secp = Secp256k1::new();
        let root = Xpriv::new_master(BtcNetwork::Regtest, &[7u8; 32]).unwrap();
        Signer { secp, root }
    }

    /// The watch-only descriptors the coordinator gets: xpub with key origin.
    fn descriptors(&self, kind: Kind) -> (String, String) {
        let (func, purpose) = match kind {
            Kind::Wpkh => ("wpkh", 84),
            Kind::Tr => ("tr", 86),
        };
        let path = DerivationPath::from_str(&format!("m/{purpose}'/1'/0'")).unwrap();
        let account = self.root.derive_priv(&self.secp, &path).unwrap();
        let xpub = Xpub::from_priv(&self.secp, &account);
        let fp = self.root.fingerprint(&self.secp);
        let origin = format!("[{fp}/{purpose}'/1'/0']{xpub}");
        (
            format!("{func}({origin}/0/*)"),
            format!("{func}({origin}/1/*)"),
        )
    }

    /// Signs every input it has a key for (by the PSBT's key origins).
    fn sign(&self, psbt: &Psbt) -> Psbt {
        let mut psbt = psbt.clone();
        psbt.sign(&self.root, &self.secp).expect("signing");
        psbt
    }
}

fn treasury(signer: &Signer, kind: Kind) -> Treasury {
    let (ext, int) = signer.descriptors(kind);
    Treasury::new(&ext, &int, Network::Regtest).unwrap()
}

/// A fabricated funding transaction paying `amounts` to fresh receive
/// addresses, confirmed at height 100.
fn fund(treasury: &mut Treasury, amounts: &[u64]) {
    let output = amounts
        .iter()
        .map(|&a| TxOut {
            value: Amount::from_sat(a),
            script_pubkey: treasury.reveal_receive_address().script_pubkey(),
        })
        .collect();
    let tx = Transaction {
        version: Version::TWO,
        lock_time: LockTime::ZERO,
        input: vec![TxIn {
            previous_output: OutPoint {
                txid: Txid::from_byte_array([0xab; 32]),
                vout: 0,
            },
            script_sig: ScriptBuf::new(),
            sequence: Sequence::MAX,
            witness: Witness::new(),
        }],
        output,
    };
    treasury
        .apply_funding(
            [tx],
            FundingBlock {
                height: 100,
                hash: BlockHash::from_byte_array([0x11; 32]),
                time: 1_700_000_000,
            },
        )
        .unwrap();
}

/// Regtest payee addresses from a key that is not the treasury's.
fn key(n: u32) -> (Secp256k1<All>, PrivateKey) {
    let secp = Secp256k1::new();
    let mut bytes = [0u8; 32];
    bytes[0] = 1;
    bytes[28..].copy_from_slice(&n.to_be_bytes());
    let sk = SecretKey::from_slice(&bytes).unwrap();
    (secp, PrivateKey::new(sk, BtcNetwork::Regtest))
}

fn address(kind: AddressType, n: u32) -> String {
    let (secp, sk) = key(n);
    let pk = sk.public_key(&secp);
    let cpk = CompressedPublicKey::try_from(pk).unwrap();
    let net = BtcNetwork::Regtest;
    match kind {
        AddressType::P2pkh => Address::p2pkh(pk, net),
        AddressType::P2sh => Address::p2shwpkh(&cpk, net),
        AddressType::P2wpkh => Address::p2wpkh(&cpk, net),
        AddressType::P2wsh => Address::p2wsh(&ScriptBuf::new_p2pk(&pk), net),
        AddressType::P2tr => Address::p2tr(&secp, cpk.0.x_only_public_key().0, None, net),
    }
    .to_string()
}

/// The five types, P2PKH at exactly its dust limit.
fn five_payees() -> Vec<Payee> {
    [
        (AddressType::P2wpkh, 50_000),
        (AddressType::P2tr, 40_000),
        (AddressType::P2pkh, 546),
        (AddressType::P2sh, 30_000),
        (AddressType::P2wsh, 20_000),
    ]
    .into_iter()
    .zip(1u32..)
    .map(|((t, amount), n)| Payee {
        address: address(t, n),
        amount_sat: amount,
        address_type: Some(t),
    })
    .collect()
}

fn funded(signer: &Signer, kind: Kind) -> Treasury {
    let mut t = treasury(signer, kind);
    fund(&mut t, &[300_000, 200_000, 1_000_000]);
    t
}

fn spent_outputs(treasury: &Treasury, psbt: &Psbt) -> Vec<TxOut> {
    psbt.unsigned_tx
        .input
        .iter()
        .map(|i| treasury.txout(i.previous_output).unwrap())
        .collect()
}

fn one_batch(treasury: &mut Treasury, payees: &[Payee], fee_rate: u64) -> PayoutBatch {
    let mut batches = build_payout_psbt(treasury, payees, fee_rate, SEED).unwrap();
    assert_eq!(batches.len(), 1);
    batches.remove(0)
}

fn finalized(signer: &Signer, psbt: &Psbt) -> Psbt {
    let mut signed = signer.sign(psbt);
    signed.finalize_mut(&signer.secp).unwrap();
    signed
}

#[test]
fn a_batch_pays_every_address_type_and_passes_the_checks() {
    let signer = Signer::new();
    for kind in [Kind::Wpkh, Kind::Tr] {
        let mut t = funded(&signer, kind);
        let payees = five_payees();
        let batch = one_batch(&mut t, &payees, 7);
        let psbt = &batch.psbt;
        let tx = &psbt.unsigned_tx;

        // Version 0, every payee once, payees sorted by script, change last.
        assert_eq!(psbt.version, 0);
        assert_eq!(tx.output.len(), payees.len() + 1, "{kind:?}");
        let scripts: Vec<_> = tx.output[..5]
            .iter()
            .map(|o| o.script_pubkey.clone())
            .collect();
        let mut sorted = scripts.clone();
        sorted.sort();
        assert_eq!(scripts, sorted);
        for (i, (out, p)) in tx.output.iter().zip(&batch.payees).enumerate() {
            assert_eq!(out.value.to_sat(), p.amount_sat);
            assert_eq!(batch.payees[i], payees[batch.payee_indices[i]]);
        }
        let (vout, change) = batch.change.unwrap();
        assert_eq!(vout, 5);
        assert!(t.is_mine(&tx.output[5].script_pubkey));
        assert_eq!(tx.output[5].value, change);
        // The change output carries its key origin (hardware wallets see it as change).
        let origins =
            psbt.outputs[5].bip32_derivation.len() + psbt.outputs[5].tap_key_origins.len();
        assert!(origins > 0, "{kind:?}: change without key origin");

        // RBF on every input.
        for input in &tx.input {
            assert_eq!(input.sequence, Sequence::ENABLE_RBF_NO_LOCKTIME);
            assert!(input.sequence.is_rbf());
        }

        // Base64 and binary round trips.
        assert_eq!(&psbt_from_base64(&batch.to_base64()).unwrap(), psbt);
        assert_eq!(&psbt_from_bytes(&batch.to_bytes()).unwrap(), psbt);

        // Signed by the funder, checked.
        let signed = signer.sign(psbt);
        let spent = spent_outputs(&t, psbt);
        let checked = check_signed(&t, psbt, &signed, &payees, &spent).unwrap();
        assert_eq!(checked.txid, batch.txid());
        assert_eq!(checked.txid, checked.tx.compute_txid());
        assert_eq!(checked.fee, batch.fee);
        assert_eq!(checked.change, change);

        // The fee rate, within tolerance (signature sizes vary: `Psbt::sign` does not grind low-R).
        let vsize = checked.tx.vsize() as f64;
        let rate = checked.fee.to_sat() as f64 / vsize;
        assert!((6.9..=7.2).contains(&rate), "{kind:?}: {rate} sat/vB");
        // The estimate is an upper bound of the real weight.
        assert!(checked.tx.weight() <= batch.estimated_weight);

        // An already finalized PSBT is accepted too.
        let final_psbt = finalized(&signer, psbt);
        let again = check_signed(&t, psbt, &final_psbt, &payees, &spent).unwrap();
        assert_eq!(again.txid, checked.txid);
    }
}

#[test]
fn building_is_deterministic() {
    let signer = Signer::new();
    for kind in [Kind::Wpkh, Kind::Tr] {
        let mut a = funded(&signer, kind);
        let mut b = funded(&signer, kind);
        let payees = five_payees();
        let first = one_batch(&mut a, &payees, 5).to_base64();
        // Again on the same treasury: nothing was marked used.
        assert_eq!(one_batch(&mut a, &payees, 5).to_base64(), first);
        // And on another treasury with the same state.
        assert_eq!(one_batch(&mut b, &payees, 5).to_base64(), first);
        // A treasury loaded afresh (another process: nothing built on it)
        // recognises the change and accepts the signed batch.
        let mut fresh = funded(&signer, kind);
        let batch = one_batch(&mut a, &payees, 5);
        let signed = signer.sign(&batch.psbt);
        let spent = spent_outputs(&fresh, &batch.psbt);
        check_signed(&fresh, &batch.psbt, &signed, &payees, &spent).unwrap();
        assert_eq!(one_batch(&mut fresh, &payees, 5).to_base64(), first);
        // The payees' order does not matter.
        let mut reversed = payees.clone();
        reversed.reverse();
        assert_eq!(
            one_batch(&mut b, &reversed, 5).psbt.unsigned_tx,
            one_batch(&mut a, &payees, 5).psbt.unsigned_tx
        );
    }
}

fn expect_err(r: Result<impl std::fmt::Debug, PayoutError>) -> PayoutError {
    let e = r.expect_err("must be refused");
    eprintln!("refused as expected: {e}");
    e
}

#[test]
fn tampered_transactions_are_refused() {
    let signer = Signer::new();
    for kind in [Kind::Wpkh, Kind::Tr] {
        let mut t = funded(&signer, kind);
        let payees = five_payees();
        let batch = one_batch(&mut t, &payees, 3);
        let unsigned = &batch.psbt;
        let spent = spent_outputs(&t, unsigned);
        let signed = signer.sign(unsigned);

        // An output amount + 1 sat.
        let mut s = signed.clone();
        s.unsigned_tx.output[0].value += Amount::from_sat(1);
        let e = expect_err(check_signed(&t, unsigned, &s, &payees, &spent));
        assert!(
            matches!(e, PayoutError::WrongAmount { vout: 0, .. }),
            "{e:?}"
        );

        // The same, with the signatures made over the changed amount (a
        // signer that changed the PSBT before signing): still refused.
        let mut u = unsigned.clone();
        u.unsigned_tx.output[1].value += Amount::from_sat(1);
        let s = signer.sign(&u);
        let e = expect_err(check_signed(&t, unsigned, &s, &payees, &spent));
        assert!(
            matches!(e, PayoutError::WrongAmount { vout: 1, .. }),
            "{e:?}"
        );

        // A payee missing.
        let mut s = signed.clone();
        s.unsigned_tx.output.remove(2);
        s.outputs.remove(2);
        let e = expect_err(check_signed(&t, unsigned, &s, &payees, &spent));
        assert!(matches!(e, PayoutError::MissingPayee { .. }), "{e:?}");

        // A payee list with one more payee than the transaction pays.
        let mut more = payees.clone();
        more.push(Payee::new(address(AddressType::P2wpkh, 99), 10_000));
        let e = expect_err(check_signed(&t, unsigned, &signed, &more, &spent));
        assert!(matches!(e, PayoutError::MissingPayee { .. }), "{e:?}");

        // An extra output.
        let mut s = signed.clone();
        let thief = Address::from_str(&address(AddressType::P2tr, 66))
            .unwrap()
            .assume_checked();
        s.unsigned_tx.output.push(TxOut {
            value: Amount::from_sat(1_000),
            script_pubkey: thief.script_pubkey(),
        });
        s.outputs.push(Default::default());
        let e = expect_err(check_signed(&t, unsigned, &s, &payees, &spent));
        assert!(
            matches!(e, PayoutError::ExtraOutput { vout: 6, .. }),
            "{e:?}"
        );

        // A changed input.
        let mut s = signed.clone();
        s.unsigned_tx.input[0].previous_output.vout += 7;
        let e = expect_err(check_signed(&t, unsigned, &s, &payees, &spent));
        assert!(
            matches!(e, PayoutError::InputChanged { index: 0, .. }),
            "{e:?}"
        );

        // Sequence (RBF) changed.
        let mut s = signed.clone();
        s.unsigned_tx.input[0].sequence = Sequence::MAX;
        let e = expect_err(check_signed(&t, unsigned, &s, &payees, &spent));
        assert!(matches!(e, PayoutError::TxChanged(_)), "{e:?}");

        // Wrong spent outputs (amount + 1 sat: it must match the PSBT's UTXO).
        let mut wrong = spent.clone();
        wrong[0].value += Amount::from_sat(1);
        let e = expect_err(check_signed(&t, unsigned, &signed, &payees, &wrong));
        assert!(matches!(e, PayoutError::SpentOutputs(_)), "{e:?}");

        // Not signed at all.
        let e = expect_err(check_signed(&t, unsigned, unsigned, &payees, &spent));
        assert!(matches!(e, PayoutError::Unsigned { index: 0 }), "{e:?}");

        // A tampered signature: only Bitcoin Core's interpreter can tell.
        let mut s = finalized(&signer, unsigned);
        let mut items: Vec<Vec<u8>> = s.inputs[0]
            .final_script_witness
            .as_ref()
            .unwrap()
            .iter()
            .map(<[u8]>::to_vec)
            .collect();
        // The signature is the first witness item for both wpkh and tr key
        // spends; flip a bit in the middle of it (a valid encoding remains).
        items[0][20] ^= 0x01;
        s.inputs[0].final_script_witness = Some(Witness::from_slice(&items));
        let e = expect_err(check_signed(&t, unsigned, &s, &payees, &spent));
        assert!(
            matches!(e, PayoutError::Script { index: 0, .. }),
            "{kind:?}: {e:?}"
        );

        // A tampered partial signature left for the finalizer (taproot key
        // spend): refused too.
        if let Kind::Tr = kind {
            let mut s = signed.clone();
            let sig = s.inputs[0]
                .tap_key_sig
                .as_mut()
                .expect("taproot key signature");
            let mut bytes = sig.signature.serialize();
            bytes[20] ^= 0x01;
            sig.signature = schnorr::Signature::from_slice(&bytes).unwrap();
            let e = expect_err(check_signed(&t, unsigned, &s, &payees, &spent));
            assert!(
                matches!(
                    e,
                    PayoutError::Finalize(_) | PayoutError::Script { index: 0, .. }
                ),
                "{e:?}"
            );
        }

        // The tampered transaction's structure is otherwise intact: it is
        // only the script check that refuses it.
        let ok = check_signed(&t, unsigned, &signed, &payees, &spent).unwrap();
        assert_eq!(ok.tx.output, s.unsigned_tx.output);
    }
}

#[test]
fn payees_are_refused_with_a_reason() {
    let signer = Signer::new();
    let mut t = funded(&signer, Kind::Tr);
    let good = Payee::new(address(AddressType::P2wpkh, 1), 10_000);

    // P2PKH one satoshi below its dust limit.
    let dust = Payee::new(address(AddressType::P2pkh, 2), 545);
    let e = expect_err(build_payout_psbt(&mut t, &[good.clone(), dust], 2, SEED));
    assert!(
        matches!(
            e,
            PayoutError::Dust {
                index: 1,
                dust_limit_sat: 546,
                ..
            }
        ),
        "{e:?}"
    );

    // Recorded type differs from the address.
    let mut mismatch = Payee::new(address(AddressType::P2tr, 3), 10_000);
    mismatch.address_type = Some(AddressType::P2wpkh);
    let e = expect_err(build_payout_psbt(&mut t, &[mismatch], 2, SEED));
    assert!(
        matches!(e, PayoutError::AddressTypeMismatch { .. }),
        "{e:?}"
    );

    // A mainnet address on regtest.
    let mainnet = Payee::new("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", 10_000);
    let e = expect_err(build_payout_psbt(&mut t, &[mainnet], 2, SEED));
    assert!(matches!(e, PayoutError::Address { index: 0, .. }), "{e:?}");

    // The treasury's own address.
    let own = Payee::new(t.reveal_receive_address().to_string(), 10_000);
    let e = expect_err(build_payout_psbt(&mut t, &[own], 2, SEED));
    assert!(matches!(e, PayoutError::PayeeIsTreasury { .. }), "{e:?}");

    // More than the treasury holds.
    let big = Payee::new(address(AddressType::P2wpkh, 4), 5_000_000);
    let e = expect_err(build_payout_psbt(&mut t, &[big], 2, SEED));
    assert!(matches!(e, PayoutError::Build { .. }), "{e:?}");

    // No payees, zero fee rate.
    assert!(matches!(
        build_payout_psbt(&mut t, &[], 2, SEED),
        Err(PayoutError::NoPayees)
    ));
    assert!(matches!(
        build_payout_psbt(&mut t, &[good], 0, SEED),
        Err(PayoutError::FeeRate(0))
    ));

    // A private key in the descriptors.
    let e = Treasury::new(
        &format!("wpkh({}/84'/1'/0'/0/*)", signer.root),
        &format!("wpkh({}/84'/1'/0'/1/*)", signer.root),
        Network::Regtest,
    )
    .unwrap_err();
    assert!(matches!(e, PayoutError::PrivateKeyInDescriptor), "{e:?}");
    let (_, wif) = key(5);
    let (_, int) = signer.descriptors(Kind::Wpkh);
    let e = Treasury::new(&format!("wpkh({wif})"), &int, Network::Regtest).unwrap_err();
    assert!(matches!(e, PayoutError::PrivateKeyInDescriptor), "{e:?}");
    let e = Treasury::new("wpkh(not a key)", &int, Network::Regtest).unwrap_err();
    assert!(matches!(e, PayoutError::Descriptor(_)), "{e:?}");
}

#[test]
fn a_big_batch_is_split_under_the_standard_weight() {
    let signer = Signer::new();
    let mut t = treasury(&signer, Kind::Tr);
    fund(&mut t, &[2_000_000, 2_000_000, 2_000_000, 2_000_000]);
    let payees: Vec<Payee> = (0..3_000u32)
        .map(|i| {
            Payee::new(
                address(AddressType::P2tr, 1_000 + i),
                1_000 + u64::from(i % 7),
            )
        })
        .collect();
    let batches = build_payout_psbt(&mut t, &payees, 2, SEED).unwrap();
    assert!(batches.len() >= 2, "{} batches", batches.len());
    for b in &batches {
        eprintln!(
            "batch: {} payees, {} inputs, estimated {} WU",
            b.payees.len(),
            b.psbt.unsigned_tx.input.len(),
            b.estimated_weight.to_wu()
        );
    }

    let mut covered = vec![0u32; payees.len()];
    let mut inputs = BTreeSet::new();
    for batch in &batches {
        assert!(batch.estimated_weight.to_wu() <= BATCH_WEIGHT_LIMIT);
        for &i in &batch.payee_indices {
            covered[i] += 1;
        }
        for input in &batch.psbt.unsigned_tx.input {
            assert!(inputs.insert(input.previous_output), "input spent twice");
        }
        let signed = signer.sign(&batch.psbt);
        let spent = spent_outputs(&t, &batch.psbt);
        let checked = check_signed(&t, &batch.psbt, &signed, &batch.payees, &spent).unwrap();
        assert!(checked.tx.weight().to_wu() <= MAX_STANDARD_TX_WEIGHT);
        assert!(checked.tx.weight() <= batch.estimated_weight);
    }
    assert!(covered.iter().all(|&c| c == 1), "every payee exactly once");
    // Deterministic as well.
    let again = build_payout_psbt(&mut t, &payees, 2, SEED).unwrap();
    let a: Vec<_> = batches.iter().map(PayoutBatch::to_base64).collect();
    let b: Vec<_> = again.iter().map(PayoutBatch::to_base64).collect();
    assert_eq!(a, b);
}

fn have_embit() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import embit"])
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        if std::env::var_os("CI").is_some() {
            panic!("embit is missing (pip install embit): CI must run this check");
        }
        eprintln!("skipped: python3 with embit not found (pip install embit)");
    }
    ok
}

fn run_python(script: &str, args: &[&std::path::Path]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// embit (pure Python, its own PSBT parser) lists the same outputs.
#[test]
fn embit_reads_the_psbt() {
    if !have_embit() {
        return;
    }
    let signer = Signer::new();
    let mut t = funded(&signer, Kind::Tr);
    let payees = five_payees();
    let batch = one_batch(&mut t, &payees, 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payout.psbt");
    std::fs::write(&path, batch.to_bytes()).unwrap();
    let script = r#"
import sys
from embit.psbt import PSBT
from embit.networks import NETWORKS
with open(sys.argv[1], "rb") as f:
    psbt = PSBT.parse(f.read())
net = NETWORKS["regtest"]
print("txid", psbt.tx.txid().hex())
print("fee", psbt.fee())
for out in psbt.tx.vout:
    print("out", out.script_pubkey.address(net), out.value)
for inp in psbt.tx.vin:
    print("in", inp.sequence)
"#;
    let text = run_python(script, &[&path]);
    let mut expected = format!("txid {}\nfee {}\n", batch.txid(), batch.fee.to_sat());
    for (i, o) in batch.psbt.unsigned_tx.output.iter().enumerate() {
        let addr = Address::from_script(&o.script_pubkey, BtcNetwork::Regtest).unwrap();
        if i < batch.payees.len() {
            assert_eq!(addr.to_string(), batch.payees[i].address);
        }
        expected.push_str(&format!("out {addr} {}\n", o.value.to_sat()));
    }
    for _ in &batch.psbt.unsigned_tx.input {
        expected.push_str(&format!("in {}\n", 0xFFFF_FFFDu32));
    }
    assert_eq!(text, expected);
}

/// embit recomputes every input's sighash (BIP-143 / BIP-341, its own code)
/// and verifies the signature of the transaction `check_signed` accepted,
/// and refuses the tampered copy.
#[test]
fn embit_verifies_the_signatures() {
    if !have_embit() {
        return;
    }
    let signer = Signer::new();
    for kind in [Kind::Wpkh, Kind::Tr] {
        // Small UTXOs, so that the batch has several inputs.
        let mut t = treasury(&signer, kind);
        fund(&mut t, &[40_000; 6]);
        let payees = five_payees();
        let batch = one_batch(&mut t, &payees, 4);
        let spent = spent_outputs(&t, &batch.psbt);
        let signed = signer.sign(&batch.psbt);
        let checked = check_signed(&t, &batch.psbt, &signed, &payees, &spent).unwrap();
        let mut tampered = checked.tx.clone();
        let last = tampered.input.len() - 1;
        let mut items: Vec<Vec<u8>> = tampered.input[last]
            .witness
            .iter()
            .map(<[u8]>::to_vec)
            .collect();
        items[0][20] ^= 0x01;
        tampered.input[last].witness = Witness::from_slice(&items);

        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        let prevouts: String = spent
            .iter()
            .map(|o| format!("{} {}\n", o.script_pubkey.to_hex_string(), o.value.to_sat()))
            .collect();
        for (name, tx) in [("good", &checked.tx), ("tampered", &tampered)] {
            let path = dir.path().join(format!("{name}.tx"));
            std::fs::write(&path, bdk_wallet::bitcoin::consensus::encode::serialize(tx)).unwrap();
            files.push(path);
        }
        let prevouts_path = dir.path().join("prevouts.txt");
        std::fs::write(&prevouts_path, prevouts).unwrap();
        let script = r#"
import sys
from embit.transaction import Transaction
from embit.script import Script, p2pkh
from embit.ec import PublicKey, Signature, SchnorrSig
prev = [l.split() for l in open(sys.argv[1]).read().splitlines()]
spks = [Script(bytes.fromhex(h)) for h, _ in prev]
values = [int(v) for _, v in prev]
for path in sys.argv[2:]:
    tx = Transaction.parse(open(path, "rb").read())
    results = []
    for i, vin in enumerate(tx.vin):
        spk = spks[i].data
        items = vin.witness.items
        try:
            if spk[0] == 0x51 and len(spk) == 34:
                assert len(items) == 1 and len(items[0]) == 64
                h = tx.sighash_taproot(i, spks, values)
                ok = PublicKey.from_xonly(spk[2:]).schnorr_verify(SchnorrSig.parse(items[0]), h)
            elif spk[0] == 0x00 and len(spk) == 22:
                assert len(items) == 2 and items[0][-1] == 1
                pub = PublicKey.parse(items[1])
                h = tx.sighash_segwit(i, p2pkh(pub), values[i])
                ok = pub.verify(Signature.parse(items[0][:-1]), h)
            else:
                ok = False
        except Exception as e:
            ok = False
        results.append("ok" if ok else "INVALID")
    print(path.rsplit("/", 1)[-1], " ".join(results))
"#;
        let text = run_python(script, &[&prevouts_path, &files[0], &files[1]]);
        let n = spent.len();
        assert!(n >= 2, "{kind:?}: want several inputs");
        let good = vec!["ok"; n].join(" ");
        let mut bad = vec!["ok"; n];
        bad[n - 1] = "INVALID";
        let bad = bad.join(" ");
        assert_eq!(
            text,
            format!("good.tx {good}\ntampered.tx {bad}\n"),
            "{kind:?}"
        );
    }
}

/// Many small UTXOs: the inputs, not the outputs, push a batch over the
/// limit, and it is split again and rebuilt.
#[test]
fn a_batch_heavy_with_inputs_is_split_again() {
    let signer = Signer::new();
    let mut t = treasury(&signer, Kind::Tr);
    fund(&mut t, &[5_000; 500]);
    let payees: Vec<Payee> = (0..2_000u32)
        .map(|i| Payee::new(address(AddressType::P2tr, 10_000 + i), 1_000))
        .collect();
    let batches = build_payout_psbt(&mut t, &payees, 2, SEED).unwrap();
    // The outputs alone (2000 × 172 WU) fit the first grouping; the ~400
    // inputs needed to pay them do not.
    assert!(batches.len() >= 2, "{} batches", batches.len());
    let mut covered = vec![0u32; payees.len()];
    for batch in &batches {
        eprintln!(
            "batch: {} payees, {} inputs, estimated {} WU",
            batch.payees.len(),
            batch.psbt.unsigned_tx.input.len(),
            batch.estimated_weight.to_wu()
        );
        assert!(batch.estimated_weight.to_wu() <= BATCH_WEIGHT_LIMIT);
        for &i in &batch.payee_indices {
            covered[i] += 1;
        }
        let signed = signer.sign(&batch.psbt);
        let spent = spent_outputs(&t, &batch.psbt);
        let checked = check_signed(&t, &batch.psbt, &signed, &batch.payees, &spent).unwrap();
        assert!(checked.tx.weight() <= batch.estimated_weight);
    }
    assert!(covered.iter().all(|&c| c == 1), "every payee exactly once");
}

/// Coins reserved by an earlier payout (another epoch's batch) are not spent
/// again; with every coin reserved the build fails instead of conflicting.
#[test]
fn reserved_coins_are_not_spent_again() {
    let signer = Signer::new();
    let mut t = funded(&signer, Kind::Wpkh);
    let payees = vec![Payee::new(address(AddressType::P2wpkh, 9), 150_000)];
    let first = one_batch(&mut t, &payees, 2);
    let used: Vec<OutPoint> = first
        .psbt
        .unsigned_tx
        .input
        .iter()
        .map(|i| i.previous_output)
        .collect();
    t.reserve(used.iter().copied());
    assert_eq!(t.reserved().len(), used.len());
    let second = one_batch(&mut t, &payees, 2);
    for input in &second.psbt.unsigned_tx.input {
        assert!(
            !used.contains(&input.previous_output),
            "{} is spent by the first payout",
            input.previous_output
        );
    }
    let all: Vec<OutPoint> = t.wallet().list_unspent().map(|u| u.outpoint).collect();
    t.reserve(all);
    let err = expect_err(build_payout_psbt(&mut t, &payees, 2, SEED));
    assert!(
        err.to_string().to_lowercase().contains("insufficient")
            || err.to_string().contains("funds"),
        "{err}"
    );
}
