#!/usr/bin/python3
"""An independent signer for tests/independent_signers.rs: Electrum's own
wallet code (Debian's python3-electrum), which shares nothing with the Rust
verifier.

Reads one JSON object on stdin:
  {"wif": "c…", "kind": "p2wpkh"|"p2pkh",
   "network": "regtest"|"testnet"|"signet", "message": "…"}
derives the address of that kind from the key with Electrum, imports the key
into an in-memory Electrum wallet (as a user does with "Import private
keys"), signs `message` with `wallet.sign_message` (what "Sign message" in
the GUI calls), checks the signature with Electrum's own verifier, and prints
one JSON object:
  {"signer": "Electrum 4.3.4 (…)", "address": "…", "signature": "<base64>"}
With {"version": true} it prints only the signer.

Electrum signs a bc1q…/bcrt1q… address with the legacy signmessage format
(65 bytes, compressed-key header 31..34), the same bytes as for the P2PKH
address of that key: what Electrum users, and Sparrow users choosing
"Standard (Electrum)", paste.

Run with Debian's interpreter (`/usr/bin/python3`); needs
`apt-get install python3-electrum`. Offline: no network is touched.
"""

import base64
import json
import sys
import tempfile

from electrum import constants, ecc, util
from electrum.bitcoin import deserialize_privkey, pubkey_to_address
from electrum.simple_config import SimpleConfig
from electrum.version import ELECTRUM_VERSION
from electrum.wallet import restore_wallet_from_text

SIGNER = (
    f"Electrum {ELECTRUM_VERSION} (python3-electrum, wallet.sign_message), "
    f"python {sys.version.split()[0]}"
)

NETWORKS = {
    "regtest": constants.set_regtest,
    "testnet": constants.set_testnet,
    "signet": constants.set_signet,
}


def sign(request, config):
    kind = request["kind"]
    if kind not in ("p2wpkh", "p2pkh"):
        raise SystemExit(f"unsupported kind {kind!r}")
    NETWORKS[request["network"]]()
    message = request["message"]
    # Electrum's form of an imported key: "<script type>:<WIF>".
    key = f"{kind}:{request['wif']}"

    txin_type, secret, compressed = deserialize_privkey(key)
    if not compressed:
        raise SystemExit("expected a compressed key")
    pubkey = ecc.ECPrivkey(secret).get_public_key_hex(compressed=True)
    address = pubkey_to_address(txin_type, pubkey)

    wallet = restore_wallet_from_text(key, path=None, config=config)["wallet"]
    if wallet.get_addresses() != [address]:
        raise SystemExit(f"wallet holds {wallet.get_addresses()}, expected [{address}]")
    sig = wallet.sign_message(address, message, None)
    if not ecc.verify_message_with_address(address, sig, message.encode("utf-8")):
        raise SystemExit(f"Electrum rejects its own signature for {address}")
    return {
        "signer": SIGNER,
        "address": address,
        "signature": base64.b64encode(sig).decode("ascii"),
    }


def main():
    request = json.load(sys.stdin)
    if request.get("version"):
        json.dump({"signer": SIGNER}, sys.stdout)
        sys.stdout.write("\n")
        return
    # Electrum's wallet objects want its event loop (a local thread).
    loop, stop_loop, loop_thread = util.create_and_start_event_loop()
    try:
        with tempfile.TemporaryDirectory(prefix="resist-electrum-") as home:
            config = SimpleConfig({"electrum_path": home})
            answer = sign(request, config)
    finally:
        loop.call_soon_threadsafe(stop_loop.set_result, 1)
        loop_thread.join(timeout=10)
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
