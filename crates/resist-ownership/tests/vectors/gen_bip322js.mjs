// Generates tests/vectors/bip322js.json: signatures made by bip322-js (and
// bitcoinjs-message, which bip322-js uses for legacy signatures), i.e. by
// code that shares nothing with the Rust verifier.
//
// Run from a directory where the npm packages are installed:
//   mkdir -p /tmp/b322 && cd /tmp/b322 && npm install bip322-js@3.0.0
//   node /path/to/crates/resist-ownership/tests/vectors/gen_bip322js.mjs \
//     > /path/to/crates/resist-ownership/tests/vectors/bip322js.json
//
// Keys are random on every run. Mainnet vectors leave out the private key
// (it is a throwaway, but a mainnet WIF in a repository only confuses).

import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';

const require = createRequire(process.cwd() + '/');
const { Signer, Verifier } = require('bip322-js');
const bitcoin = require('bitcoinjs-lib');
const { ECPairFactory } = require('ecpair');
const ecc = require('@bitcoinerlab/secp256k1');
const bitcoinMessage = require('bitcoinjs-message');

const version = (name) => require(`${name}/package.json`).version;
const SIGNER = `bip322-js ${version('bip322-js')} (bitcoinjs-lib ${version('bitcoinjs-lib')}, bitcoinjs-message ${version('bitcoinjs-message')})`;

bitcoin.initEccLib(ecc);
const ECPair = ECPairFactory(ecc);

const NETWORKS = {
  mainnet: bitcoin.networks.bitcoin,
  testnet: bitcoin.networks.testnet,
  regtest: bitcoin.networks.regtest,
};

function addressOf(kind, pair, network) {
  const pubkey = Buffer.from(pair.publicKey);
  switch (kind) {
    case 'p2wpkh':
      return bitcoin.payments.p2wpkh({ pubkey, network }).address;
    case 'p2sh':
      return bitcoin.payments.p2sh({
        redeem: bitcoin.payments.p2wpkh({ pubkey, network }),
        network,
      }).address;
    case 'p2tr':
      return bitcoin.payments.p2tr({ internalPubkey: pubkey.subarray(1, 33), network }).address;
    case 'p2pkh':
      return bitcoin.payments.p2pkh({ pubkey, network }).address;
    default:
      throw new Error(kind);
  }
}

// The shape of the coordinator's challenge (`Action::message` in resist-proto).
function challenge(i, address, net) {
  const nonce = randomBytes(16).toString('hex');
  return `proxy-grants:op-${i}:${address}:${net}:${nonce}:2026-12-31T00:00:00Z`;
}

const vectors = [];
let i = 0;

function push(v) {
  // Every vector must pass bip322-js's own verifier before it is written.
  if (!Verifier.verifySignature(v.address, v.message, v.signature)) {
    throw new Error(`bip322-js does not verify its own vector: ${JSON.stringify(v)}`);
  }
  vectors.push({ signer: SIGNER, ...v });
}

for (const [net, network] of Object.entries(NETWORKS)) {
  // BIP-322 simple, made by bip322-js's Signer, and legacy for P2PKH
  // (Signer.sign falls back to bitcoinjs-message for 1…/m…/n… addresses).
  for (const [kind, format] of [
    ['p2wpkh', 'bip322-simple'],
    ['p2tr', 'bip322-simple'],
    ['p2sh', 'bip322-simple'],
    ['p2pkh', 'legacy'],
  ]) {
    const pair = ECPair.makeRandom({ network });
    const address = addressOf(kind, pair, network);
    const messages = [challenge(i++, address, net)];
    if (net !== 'mainnet') {
      // Non-ASCII text (UTF-8 bytes are signed) and a message longer than
      // 252 bytes (its length prefix is three bytes in the legacy hash).
      messages.push(`Grüße ✓ ${address}`);
      messages.push(`${challenge(i++, address, net)}:${'x'.repeat(260)}`);
    }
    for (const message of messages) {
      push({
        network: net,
        kind,
        format,
        note: kind === 'p2pkh' ? 'Signer.sign (legacy, compressed key)' : 'Signer.sign',
        address,
        wif: net === 'mainnet' ? null : pair.toWIF(),
        message,
        signature: Signer.sign(pair.toWIF(), address, message),
      });
    }
  }

  // Legacy P2PKH with an uncompressed key (headers 27..30).
  {
    const pair = ECPair.makeRandom({ network, compressed: false });
    const address = addressOf('p2pkh', pair, network);
    const message = challenge(i++, address, net);
    push({
      network: net,
      kind: 'p2pkh',
      format: 'legacy',
      note: 'Signer.sign (legacy, uncompressed key)',
      address,
      wif: net === 'mainnet' ? null : pair.toWIF(),
      message,
      signature: Signer.sign(pair.toWIF(), address, message),
    });
  }

  // BIP-137 segwit headers (35..38 P2SH-P2WPKH, 39..42 P2WPKH), as Trezor
  // writes them, from bitcoinjs-message directly.
  for (const [kind, segwitType] of [
    ['p2wpkh', 'p2wpkh'],
    ['p2sh', 'p2sh(p2wpkh)'],
  ]) {
    const pair = ECPair.makeRandom({ network });
    const address = addressOf(kind, pair, network);
    const message = challenge(i++, address, net);
    const signature = bitcoinMessage
      .sign(message, Buffer.from(pair.privateKey), true, { segwitType })
      .toString('base64');
    push({
      network: net,
      kind,
      format: 'legacy',
      note: `bitcoinjs-message sign, BIP-137 segwitType ${segwitType}`,
      address,
      wif: net === 'mainnet' ? null : pair.toWIF(),
      message,
      signature,
    });
  }
}

process.stdout.write(
  JSON.stringify(
    {
      generator: 'tests/vectors/gen_bip322js.mjs',
      signer: SIGNER,
      node: process.version,
      vectors,
    },
    null,
    2,
  ) + '\n',
);
