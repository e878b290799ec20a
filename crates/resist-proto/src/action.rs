//! The exact text an operator signs for each change.
//!
//! Operators have no passwords: every change (register, add a node, change a
//! node, change the payout address, replace the access token) is a message
//! signed with the key of the payout address, in the operator's own wallet.
//! The coordinator and the CLI build that message with the same function, so
//! they cannot disagree about a byte.
//!
//! The message is one ASCII line (wallets sign the exact bytes; a trailing
//! newline would change them): what the change is in words the wallet shows,
//! the coordinator's network and challenge nonce (so a signature is good for
//! one change on one coordinator, once), and the SHA-256 of the change's
//! canonical JSON, which binds every detail (endpoints, credentials) without
//! printing secrets:
//!
//! ```text
//! resist-v1 regtest register payout=bcrt1q… nodes=2 nonce=4f1c… digest=9a0b…
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use crate::endpoint::{Credentials, Endpoint, NodeSpec};

/// The version tag at the start of every signed message.
pub const MESSAGE_VERSION: &str = "resist-v1";

/// How a change treats a node's credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case", tag = "change", content = "credentials")]
pub enum CredentialsChange {
    /// Leave them as they are.
    #[default]
    Keep,
    /// The node no longer requires authentication.
    Remove,
    /// Replace them.
    Set(Credentials),
}

/// A change an operator signs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action<'a> {
    /// Register an operator with its payout address and first nodes.
    Register {
        /// The payout address (as submitted).
        payout_address: &'a str,
        /// The nodes (as submitted).
        nodes: &'a [NodeSpec],
    },
    /// Add a node.
    AddNode {
        /// The operator's id.
        operator: i64,
        /// The node (as submitted).
        node: &'a NodeSpec,
    },
    /// Change a node's endpoint and/or credentials.
    UpdateNode {
        /// The operator's id.
        operator: i64,
        /// The node's id.
        node: i64,
        /// The new endpoint, if it changes.
        endpoint: Option<&'a Endpoint>,
        /// What happens to the credentials.
        credentials: &'a CredentialsChange,
    },
    /// Send future grants to another address (signed by both addresses).
    ChangePayout {
        /// The operator's id.
        operator: i64,
        /// The new payout address (as submitted).
        new_payout_address: &'a str,
    },
    /// Replace the operator's access token.
    RotateToken {
        /// The operator's id.
        operator: i64,
    },
}

impl Action<'_> {
    /// The action's name, as in the message and the audit trail.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Register { .. } => "register",
            Action::AddNode { .. } => "add-node",
            Action::UpdateNode { .. } => "update-node",
            Action::ChangePayout { .. } => "change-payout",
            Action::RotateToken { .. } => "rotate-token",
        }
    }

    /// The line to sign on the coordinator running on `network` (`mainnet`,
    /// `testnet`, `signet`, `regtest`) for the challenge `nonce`.
    pub fn message(&self, network: &str, nonce: &str) -> String {
        let summary = match self {
            Action::Register {
                payout_address,
                nodes,
            } => format!("payout={payout_address} nodes={}", nodes.len()),
            Action::AddNode { operator, node } => {
                format!("operator={operator} node={}", node.endpoint)
            }
            Action::UpdateNode { operator, node, .. } => {
                format!("operator={operator} node={node}")
            }
            Action::ChangePayout {
                operator,
                new_payout_address,
            } => format!("operator={operator} payout={new_payout_address}"),
            Action::RotateToken { operator } => format!("operator={operator}"),
        };
        let summary: String = summary
            .chars()
            .map(|c| {
                if c.is_ascii_graphic() || c == ' ' {
                    c
                } else {
                    '?'
                }
            })
            .collect();
        format!(
            "{MESSAGE_VERSION} {network} {} {summary} nonce={nonce} digest={}",
            self.name(),
            self.digest()
        )
    }

    /// Hex SHA-256 of the canonical JSON of the action: serde_json of these
    /// types (fields in declaration order, no maps, no whitespace).
    pub fn digest(&self) -> String {
        // Serialising these plain structs cannot fail; an empty digest would
        // simply never match a signature.
        let json = serde_json::to_vec(self).unwrap_or_default();
        hex::encode(Sha256::digest(&json))
    }
}

#[cfg(test)]
mod test {
    use super::*;

    fn node(host: &str, password: &str) -> NodeSpec {
        NodeSpec {
            endpoint: Endpoint {
                host: host.into(),
                port: 1080,
            },
            protocol: "socks5".into(),
            credentials: Some(Credentials {
                username: "u".into(),
                password: password.into(),
            }),
        }
    }

    #[test]
    fn message_is_one_ascii_line_without_secrets() {
        let nodes = [
            node("203.0.113.7", "hunter2"),
            node("proxy.example.org", "x"),
        ];
        let action = Action::Register {
            payout_address: "bcrt1qexample",
            nodes: &nodes,
        };
        let m = action.message("regtest", "00ff");
        assert!(
            m.starts_with(
                "resist-v1 regtest register payout=bcrt1qexample nodes=2 nonce=00ff digest="
            ),
            "{m}"
        );
        assert!(m.is_ascii() && !m.contains('\n'));
        assert!(!m.contains("hunter2"));
        assert_eq!(m.len(), m.rsplit_once("digest=").unwrap().0.len() + 7 + 64);
    }

    #[test]
    fn digest_binds_every_detail() {
        let a = [node("203.0.113.7", "hunter2")];
        let b = [node("203.0.113.7", "hunter3")];
        let m = |nodes| {
            Action::Register {
                payout_address: "x",
                nodes,
            }
            .message("regtest", "n")
        };
        assert_ne!(m(&a), m(&b));
        let reg = Action::Register {
            payout_address: "x",
            nodes: &a,
        };
        assert_ne!(reg.message("regtest", "n"), reg.message("signet", "n"));
        assert_ne!(reg.message("regtest", "n"), reg.message("regtest", "m"));
    }

    #[test]
    fn canonical_json_is_stable() {
        // A fixed vector: a change to the encoding breaks every signature an
        // operator holds, so it must show up here.
        let action = Action::RotateToken { operator: 7 };
        assert_eq!(
            serde_json::to_string(&action).unwrap(),
            r#"{"action":"rotate-token","operator":7}"#
        );
        assert_eq!(
            action.message("signet", "abc"),
            format!(
                "resist-v1 signet rotate-token operator=7 nonce=abc digest={}",
                action.digest()
            )
        );
        let keep = CredentialsChange::Keep;
        let upd = Action::UpdateNode {
            operator: 1,
            node: 2,
            endpoint: None,
            credentials: &keep,
        };
        assert_eq!(
            serde_json::to_string(&upd).unwrap(),
            r#"{"action":"update-node","operator":1,"node":2,"endpoint":null,"credentials":{"change":"keep"}}"#
        );
    }

    #[test]
    fn unprintable_input_cannot_break_the_line() {
        let action = Action::ChangePayout {
            operator: 1,
            new_payout_address: "bc1\nq\u{202e}x",
        };
        let m = action.message("mainnet", "n");
        assert!(m.is_ascii() && !m.contains('\n'), "{m:?}");
    }
}
