//! `resist operator`: register nodes with a coordinator and prove the payout
//! address by signing, then look at what the coordinator knows.
//!
//! Every change is a message the operator signs with the key of the payout
//! address in their own wallet; the message text comes from
//! `resist_proto::action`, the same code the coordinator checks it with. On
//! test networks a WIF key file can sign instead (for scripts and `resist up`);
//! real-money keys never belong on a command line.

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use clap::{Args, Subcommand};
use resist_client::{Client, Method};
use resist_ownership::{Network, PayoutAddress};
use resist_proto::action::Action;
use resist_proto::api::{
    AddNodeRequest, Challenge, ChangePayoutRequest, Info, NodeView, OperatorView, RegisterRequest,
    Registered, RotateTokenRequest, TokenIssued,
};
use resist_proto::endpoint::{Credentials, Endpoint, NodeSpec};
use serde::{Deserialize, Serialize};

use crate::Failure;
use crate::admin::DEFAULT_COORDINATOR;

/// Longest signature line read from the terminal.
const MAX_PASTED_SIGNATURE: usize = 8192;

/// Register nodes with a coordinator and manage them.
///
/// Grants go to a Bitcoin payout address that you prove you control by signing
/// a message with its key, in your own wallet (Sparrow: Tools → Sign/Verify
/// Message; Electrum: Sign/verify message; Bitcoin Core: signmessage, for 1…
/// addresses). The coordinator never sees a private key:
///
///     export RESIST_COORDINATOR=https://coordinator.example.org
///     resist operator register --payout bc1q… --node 203.0.113.7:1080 --node-credentials FILE
///     resist operator status
///
/// Probes log in to your nodes like users do: FILE is the node's generated
/// credentials (node-credentials.toml in its data directory); use --node-user and
/// --node-password for configured users, or --no-node-auth.
///
/// The command prints the exact line to sign and waits for the signature. What the
/// coordinator returns (your operator id and an access token for `status`) is kept
/// in the data directory, readable only by you.
#[derive(Debug, Clone, Args)]
#[command(verbatim_doc_comment)]
pub struct OperatorArgs {
    /// The coordinator's URL
    #[arg(long, global = true, value_name = "URL", env = "RESIST_COORDINATOR")]
    pub coordinator: Option<String>,

    /// Where the operator's id and access token are kept [default: $XDG_DATA_HOME/resist/operator]
    #[arg(long, global = true, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Test networks only: sign with the private key (WIF) in this file instead of pasting signatures
    #[arg(long, global = true, value_name = "FILE")]
    pub wif_file: Option<PathBuf>,

    #[command(subcommand)]
    pub command: OperatorCommand,
}

/// What to do.
#[derive(Debug, Clone, Subcommand)]
pub enum OperatorCommand {
    /// Register a payout address and its first nodes
    Register {
        /// Where grants go (must be on the coordinator's network)
        #[arg(long, value_name = "ADDRESS")]
        payout: String,
        #[command(flatten)]
        nodes: NodeArgs,
    },
    /// Show what the coordinator knows about you
    Status,
    /// Add nodes
    AddNode {
        #[command(flatten)]
        nodes: NodeArgs,
    },
    /// Send future grants to another address (signed by the current and the new one)
    ChangePayout {
        /// The new payout address
        #[arg(long, value_name = "ADDRESS")]
        new: String,
        /// Test networks only: the new address's private key (WIF) file
        #[arg(long, value_name = "FILE")]
        new_wif_file: Option<PathBuf>,
    },
    /// Replace a lost or leaked access token
    RotateToken,
}

/// Nodes and the credentials probes use for them.
#[derive(Debug, Clone, Args)]
pub struct NodeArgs {
    /// A node's public HOST:PORT; repeat for several
    #[arg(long = "node", value_name = "HOST:PORT", required = true)]
    pub nodes: Vec<String>,
    /// The nodes' credentials file (`node-credentials.toml` in the node's data directory)
    #[arg(long, value_name = "FILE", conflicts_with_all = ["node_user", "no_node_auth"])]
    pub node_credentials: Option<PathBuf>,
    /// The username probes log in with (with --node-password)
    #[arg(long, value_name = "NAME", requires = "node_password")]
    pub node_user: Option<String>,
    /// The password probes log in with (with --node-user)
    #[arg(long, value_name = "PASSWORD", requires = "node_user")]
    pub node_password: Option<String>,
    /// The nodes require no authentication
    #[arg(long)]
    pub no_node_auth: bool,
}

impl NodeArgs {
    fn specs(&self) -> anyhow::Result<Vec<NodeSpec>> {
        let credentials = match (&self.node_credentials, &self.node_user, &self.node_password) {
            (Some(file), _, _) => Some(read_node_credentials(file)?),
            (None, Some(u), Some(p)) => Some(Credentials {
                username: u.clone(),
                password: p.clone(),
            }),
            _ if self.no_node_auth => None,
            _ => bail!(
                "say how probes log in to the nodes: --node-credentials FILE (node-credentials.toml \
                 from the node's data directory), --node-user NAME --node-password PASSWORD, or --no-node-auth"
            ),
        };
        self.nodes
            .iter()
            .map(|n| {
                let endpoint =
                    Endpoint::parse(n).map_err(|e| anyhow!("--node {n}: {}", e.problem))?;
                Ok(NodeSpec {
                    endpoint,
                    protocol: "socks5".into(),
                    credentials: credentials.clone(),
                })
            })
            .collect()
    }
}

fn read_node_credentials(file: &Path) -> anyhow::Result<Credentials> {
    #[derive(Deserialize)]
    struct Stored {
        name: String,
        password: String,
    }
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let s: Stored = toml::from_str(&text).with_context(|| {
        format!(
            "{} is not a node credentials file (name = …, password = …)",
            file.display()
        )
    })?;
    Ok(Credentials {
        username: s.name,
        password: s.password,
    })
}

/// What registration left in the data directory.
#[derive(Debug, Serialize, Deserialize)]
struct Saved {
    coordinator: String,
    operator: i64,
    payout_address: String,
    token: String,
}

fn saved_path(dir: &Path) -> PathBuf {
    dir.join("operator.toml")
}

fn save(dir: &Path, saved: &Saved) -> anyhow::Result<()> {
    let text = format!(
        "# Written by `resist operator`; the token reads your record on the coordinator. Keep it private.\n{}",
        toml::to_string(saved)?
    );
    let path = saved_path(dir);
    resist_node::credentials::write_private(&path, &text)
        .with_context(|| format!("cannot write {}", path.display()))
}

fn load(dir: &Path) -> anyhow::Result<Saved> {
    let path = saved_path(dir);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!("no registration found in {} (run `resist operator register` first, or pass --data-dir)", path.display())
    })?;
    toml::from_str(&text)
        .with_context(|| format!("{} is damaged; fix or delete it", path.display()))
}

/// Runs `resist operator`.
pub fn run(args: OperatorArgs) -> Result<(), Failure> {
    crate::client_runtime()?.block_on(execute(args))
}

/// Where the operator's answers come from: a WIF key (test networks) or the
/// person at the terminal.
struct Signer {
    wif: Option<String>,
}

impl Signer {
    fn from_file(file: Option<&Path>) -> anyhow::Result<Self> {
        let wif = match file {
            Some(f) => Some(
                std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read the WIF file {}", f.display()))?
                    .trim()
                    .to_owned(),
            ),
            None => None,
        };
        Ok(Self { wif })
    }

    fn sign(&self, address: &PayoutAddress, message: &str) -> anyhow::Result<String> {
        if let Some(wif) = &self.wif {
            return resist_ownership::sign_for_test_network(wif, address, message)
                .map_err(|e| anyhow!("{e}"));
        }
        let mut err = std::io::stderr().lock();
        writeln!(
            err,
            "\nSign this exact line with the key of {}:\n\n{message}\n",
            address.as_str()
        )?;
        writeln!(
            err,
            "(Sparrow: Tools → Sign/Verify Message, format BIP322; Electrum: Tools → Sign/verify message;\n Bitcoin Core, 1… addresses: signmessage.) Paste the signature and press Enter:"
        )?;
        err.flush()?;
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .take(MAX_PASTED_SIGNATURE as u64)
            .read_line(&mut line)
            .context("cannot read the signature from standard input")?;
        let sig = line.trim().to_owned();
        if sig.is_empty() {
            bail!("no signature given; nothing was changed");
        }
        Ok(sig)
    }
}

async fn execute(args: OperatorArgs) -> Result<(), Failure> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| crate::default_data_dir().join("operator"));
    let signer = Signer::from_file(args.wif_file.as_deref()).map_err(Failure::Config)?;
    // Every command but `register` works on the saved registration, and talks
    // to the coordinator it was made with unless told otherwise.
    let saved = || -> Result<(Saved, String), Failure> {
        let saved = load(&dir).map_err(Failure::Config)?;
        let url = args
            .coordinator
            .clone()
            .unwrap_or_else(|| saved.coordinator.clone());
        Ok((saved, url))
    };
    let result = match &args.command {
        OperatorCommand::Register { payout, nodes } => {
            let url = args.coordinator.as_deref().unwrap_or(DEFAULT_COORDINATOR);
            let specs = nodes.specs().map_err(Failure::Config)?;
            register(url, &dir, &signer, payout, specs).await
        }
        OperatorCommand::Status => {
            let (saved, url) = saved()?;
            status(&url, &saved).await
        }
        OperatorCommand::AddNode { nodes } => {
            let (saved, url) = saved()?;
            let specs = nodes.specs().map_err(Failure::Config)?;
            add_nodes(&url, &saved, &signer, specs).await
        }
        OperatorCommand::ChangePayout { new, new_wif_file } => {
            let (saved, url) = saved()?;
            let new_signer = Signer::from_file(new_wif_file.as_deref()).map_err(Failure::Config)?;
            change_payout(&url, &dir, saved, &signer, &new_signer, new).await
        }
        OperatorCommand::RotateToken => {
            let (saved, url) = saved()?;
            rotate_token(&url, &dir, saved, &signer).await
        }
    };
    result.map_err(Failure::Runtime)
}

/// The coordinator's network and a fresh challenge.
async fn challenge(client: &Client) -> anyhow::Result<(Network, Challenge)> {
    let info: Info = client.get("/api/info").await?;
    let network: Network = info.network.parse().map_err(|_| {
        anyhow!(
            "the coordinator names an unknown network {:?}",
            info.network
        )
    })?;
    let challenge: Challenge = client.post::<(), _>("/api/challenges", None).await?;
    Ok((network, challenge))
}

fn payout(s: &str, network: Network) -> anyhow::Result<PayoutAddress> {
    resist_ownership::parse_address(s, network).map_err(|e| anyhow!("{e}"))
}

async fn register(
    url: &str,
    dir: &Path,
    signer: &Signer,
    payout_address: &str,
    nodes: Vec<NodeSpec>,
) -> anyhow::Result<()> {
    if saved_path(dir).exists() {
        bail!(
            "{} already holds a registration; use `resist operator add-node`, or another --data-dir",
            saved_path(dir).display()
        );
    }
    let client = Client::new(url)?;
    let (network, challenge) = challenge(&client).await?;
    let address = payout(payout_address, network)?;
    let message = Action::Register {
        payout_address,
        nodes: &nodes,
    }
    .message(&network.to_string(), &challenge.nonce);
    let signature = signer.sign(&address, &message)?;
    let request = RegisterRequest {
        payout_address: payout_address.to_owned(),
        nodes,
        nonce: challenge.nonce,
        signature,
    };
    let registered: Registered = client.post("/api/operators", Some(&request)).await?;
    save(
        dir,
        &Saved {
            coordinator: client.base().to_owned(),
            operator: registered.operator.id,
            payout_address: registered.operator.payout_address.clone(),
            token: registered.token,
        },
    )?;
    println!(
        "registered as operator {} with {} node(s):",
        registered.operator.id,
        registered.operator.nodes.len()
    );
    print_nodes(&registered.operator.nodes);
    println!("grants go to {}", registered.operator.payout_address);
    println!("access token saved in {}", saved_path(dir).display());
    Ok(())
}

async fn status(url: &str, saved: &Saved) -> anyhow::Result<()> {
    let client = Client::new(url)?.with_token(&saved.token);
    let me: OperatorView = client.get("/api/operators/me").await?;
    println!("operator {} at {}", me.id, client.base());
    println!("payout address: {}", me.payout_address);
    println!("registered: {}", resist_clock::UnixTime(me.created_at));
    println!("nodes ({}):", me.nodes.len());
    print_nodes(&me.nodes);
    Ok(())
}

async fn add_nodes(
    url: &str,
    saved: &Saved,
    signer: &Signer,
    nodes: Vec<NodeSpec>,
) -> anyhow::Result<()> {
    let client = Client::new(url)?;
    for node in nodes {
        let (network, challenge) = challenge(&client).await?;
        let address = payout(&saved.payout_address, network)?;
        let message = Action::AddNode {
            operator: saved.operator,
            node: &node,
        }
        .message(&network.to_string(), &challenge.nonce);
        let signature = signer.sign(&address, &message)?;
        let request = AddNodeRequest {
            node,
            nonce: challenge.nonce,
            signature,
        };
        let added: NodeView = client
            .post(
                &format!("/api/operators/{}/nodes", saved.operator),
                Some(&request),
            )
            .await?;
        println!("added node {} ({})", added.id, added.endpoint);
    }
    Ok(())
}

async fn change_payout(
    url: &str,
    dir: &Path,
    mut saved: Saved,
    current: &Signer,
    new_signer: &Signer,
    new: &str,
) -> anyhow::Result<()> {
    let client = Client::new(url)?;
    let (network, challenge) = challenge(&client).await?;
    let current_address = payout(&saved.payout_address, network)?;
    let new_address = payout(new, network)?;
    let message = Action::ChangePayout {
        operator: saved.operator,
        new_payout_address: new,
    }
    .message(&network.to_string(), &challenge.nonce);
    let signature_current = current.sign(&current_address, &message)?;
    let signature_new = new_signer.sign(&new_address, &message)?;
    let request = ChangePayoutRequest {
        new_payout_address: new.to_owned(),
        nonce: challenge.nonce,
        signature_current,
        signature_new,
    };
    let me: OperatorView = client
        .call(
            Method::PUT,
            &format!("/api/operators/{}/payout", saved.operator),
            Some(&request),
        )
        .await?;
    saved.payout_address = me.payout_address.clone();
    save(dir, &saved)?;
    println!("grants now go to {}", me.payout_address);
    Ok(())
}

async fn rotate_token(
    url: &str,
    dir: &Path,
    mut saved: Saved,
    signer: &Signer,
) -> anyhow::Result<()> {
    let client = Client::new(url)?;
    let (network, challenge) = challenge(&client).await?;
    let address = payout(&saved.payout_address, network)?;
    let message = Action::RotateToken {
        operator: saved.operator,
    }
    .message(&network.to_string(), &challenge.nonce);
    let signature = signer.sign(&address, &message)?;
    let issued: TokenIssued = client
        .post(
            &format!("/api/operators/{}/token", saved.operator),
            Some(&RotateTokenRequest {
                nonce: challenge.nonce,
                signature,
            }),
        )
        .await?;
    saved.token = issued.token;
    save(dir, &saved)?;
    println!(
        "new access token saved in {}; the old one no longer works",
        saved_path(dir).display()
    );
    Ok(())
}

fn print_nodes(nodes: &[NodeView]) {
    for n in nodes {
        let auth = match &n.username {
            Some(u) => format!("user {u}"),
            None => "no auth".to_owned(),
        };
        println!(
            "    node {:>4}  {}  {}  {auth}",
            n.id, n.endpoint, n.protocol
        );
    }
}
