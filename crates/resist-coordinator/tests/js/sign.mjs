// An independent signer for tests/independent_signers.rs: bip322-js (with
// bitcoinjs-lib, and bitcoinjs-message for legacy P2PKH signatures), code
// that shares nothing with the Rust verifier (the `bip322` crate and
// rust-bitcoin).
//
// Reads one JSON object on stdin:
//   {"wif": "c…", "kind": "p2wpkh"|"p2tr"|"p2pkh",
//    "network": "regtest"|"testnet"|"signet", "message": "…"}
// derives the address of that kind from the key with bitcoinjs-lib, signs
// `message` for it with bip322-js's Signer.sign (BIP-322 simple for
// P2WPKH and P2TR, legacy signmessage for P2PKH), checks the signature with
// bip322-js's own Verifier, and prints one JSON object:
//   {"signer": "bip322-js 3.0.0 (…)", "address": "…", "signature": "<base64>"}
// With {"version": true} it prints only the signer.
//
// Install the packages first (node_modules is not committed): `npm ci` here.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const { Signer, Verifier } = require('bip322-js');
const bitcoin = require('bitcoinjs-lib');
const { ECPairFactory } = require('ecpair');
const ecc = require('@bitcoinerlab/secp256k1');

const version = (name) => require(`${name}/package.json`).version;
const SIGNER =
  `bip322-js ${version('bip322-js')} (bitcoinjs-lib ${version('bitcoinjs-lib')}, ` +
  `bitcoinjs-message ${version('bitcoinjs-message')}, ecpair ${version('ecpair')}), node ${process.version}`;

bitcoin.initEccLib(ecc);
const ECPair = ECPairFactory(ecc);

// bitcoinjs-lib has no signet; signet addresses and keys are testnet's.
const NETWORKS = {
  regtest: bitcoin.networks.regtest,
  testnet: bitcoin.networks.testnet,
  signet: bitcoin.networks.testnet,
};

function addressOf(kind, pubkey, network) {
  switch (kind) {
    case 'p2wpkh':
      return bitcoin.payments.p2wpkh({ pubkey, network }).address;
    case 'p2tr':
      // BIP-86 style key-path address: internal key = the key, no script tree.
      return bitcoin.payments.p2tr({ internalPubkey: pubkey.subarray(1, 33), network }).address;
    case 'p2pkh':
      return bitcoin.payments.p2pkh({ pubkey, network }).address;
    default:
      throw new Error(`unknown address kind ${JSON.stringify(kind)}`);
  }
}

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString('utf8');
}

const input = JSON.parse(await readStdin());
if (input.version) {
  process.stdout.write(JSON.stringify({ signer: SIGNER }) + '\n');
  process.exit(0);
}
const { wif, kind, network: networkName, message } = input;
const network = NETWORKS[networkName];
if (!network) throw new Error(`unknown network ${JSON.stringify(networkName)}`);
if (typeof message !== 'string') throw new Error('message must be a string');

const pair = ECPair.fromWIF(wif, network);
if (!pair.compressed) throw new Error('expected a compressed key');
const address = addressOf(kind, Buffer.from(pair.publicKey), network);
const signature = Signer.sign(wif, address, message);
if (!Verifier.verifySignature(address, message, signature)) {
  throw new Error(`bip322-js does not verify its own signature for ${address}`);
}
process.stdout.write(JSON.stringify({ signer: SIGNER, address, signature }) + '\n');
