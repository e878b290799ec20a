#!/usr/bin/python3
"""Generates tests/vectors/electrum.json: signatures made by Electrum's own
wallet code (Debian's python3-electrum), which shares nothing with the Rust
verifier.

Electrum's "Sign message" on a bc1q…/tb1q… or P2SH-P2WPKH address produces
the legacy 65-byte signature (compressed-key header 31..34), the same bytes
it produces for the P2PKH address of that key. That is what Electrum users,
and Sparrow users choosing "Standard (Electrum)", will paste.

Run (offline; needs `apt-get install -y python3-electrum`):
  /usr/bin/python3 crates/resist-ownership/tests/vectors/gen_electrum.py \
    > crates/resist-ownership/tests/vectors/electrum.json

Keys are random on every run. Mainnet vectors leave out the private key.
"""

import base64
import json
import secrets
import sys
import tempfile

from electrum import constants, ecc, util
from electrum.bitcoin import serialize_privkey
from electrum.mnemonic import Mnemonic
from electrum.simple_config import SimpleConfig
from electrum.version import ELECTRUM_VERSION
from electrum.wallet import restore_wallet_from_text

SIGNER = f"Electrum {ELECTRUM_VERSION} (Debian python3-electrum, wallet.sign_message)"

NETWORKS = {
    "mainnet": constants.set_mainnet,
    "testnet": constants.set_testnet,
    "signet": constants.set_signet,
    "regtest": constants.set_regtest,
}

KIND = {"p2wpkh": "p2wpkh", "p2wpkh-p2sh": "p2sh", "p2pkh": "p2pkh"}


def challenge(i, address, net):
    nonce = secrets.token_hex(16)
    return f"proxy-grants:op-{i}:{address}:{net}:{nonce}:2026-12-31T00:00:00Z"


def main():
    # Electrum's wallet objects want its event loop (a local thread; no
    # network is touched).
    loop, stop_loop, loop_thread = util.create_and_start_event_loop()
    try:
        run()
    finally:
        loop.call_soon_threadsafe(stop_loop.set_result, 1)
        loop_thread.join(timeout=10)


def run():
    config = SimpleConfig({"electrum_path": tempfile.mkdtemp(prefix="electrum-vec-")})
    vectors = []
    i = 0

    def push(wallet, net, address, message, note, wif):
        sig = wallet.sign_message(address, message, None)
        # Electrum's own verifier must accept it.
        if not ecc.verify_message_with_address(address, sig, message.encode("utf-8")):
            raise SystemExit(f"electrum rejects its own signature for {address}")
        txin_type = wallet.get_txin_type(address)
        vectors.append(
            {
                "signer": SIGNER,
                "network": net,
                "kind": KIND[txin_type],
                "format": "legacy",
                "note": note,
                "address": address,
                "wif": None if net == "mainnet" else wif,
                "message": message,
                "signature": base64.b64encode(sig).decode("ascii"),
            }
        )

    for net, select in NETWORKS.items():
        select()

        # 1. A standard HD segwit wallet from a fresh Electrum seed: what a
        #    default Electrum install has. Sign for its first receive address.
        seed = Mnemonic("en").make_seed(seed_type="segwit")
        hd = restore_wallet_from_text(seed, path=None, config=config)["wallet"]
        address = hd.get_receiving_addresses()[0]
        exported = hd.export_private_key(address, None)  # "p2wpkh:<wif>"
        wif = exported.split(":", 1)[1]
        push(hd, net, address, challenge(i, address, net), "HD segwit wallet (seed), first receive address", wif)
        i += 1

        # 2. An imported-keys wallet with one key per script type.
        wifs = {}
        for txin_type in ("p2wpkh", "p2wpkh-p2sh", "p2pkh"):
            secret = secrets.token_bytes(32)
            wifs[txin_type] = serialize_privkey(secret, True, txin_type)
        text = " ".join(wifs.values())
        imported = restore_wallet_from_text(text, path=None, config=config)["wallet"]
        for address in imported.get_addresses():
            txin_type = imported.get_txin_type(address)
            wif = wifs[txin_type].split(":", 1)[1]
            push(imported, net, address, challenge(i, address, net), f"imported key ({txin_type})", wif)
            i += 1
            if txin_type == "p2wpkh" and net != "mainnet":
                push(imported, net, address, f"Grüße ✓ {address}", "imported key (p2wpkh), non-ASCII message", wif)
                push(imported, net, address, challenge(i, address, net) + ":" + "x" * 260,
                     "imported key (p2wpkh), message over 252 bytes", wif)
                i += 1

    json.dump(
        {
            "generator": "tests/vectors/gen_electrum.py",
            "signer": SIGNER,
            "python": sys.version.split()[0],
            "vectors": vectors,
        },
        sys.stdout,
        indent=2,
        ensure_ascii=False,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
