//! The flags several subcommands share, each group written once and
//! `#[command(flatten)]`ed where it is used, so its name, help text, default
//! and environment variable cannot drift apart between subcommands.

use std::path::PathBuf;

use clap::Args;

use crate::admin::DEFAULT_COORDINATOR;

/// `--coordinator URL` (or `RESIST_COORDINATOR`), for the commands that talk
/// to a coordinator and have a default one.
#[derive(Debug, Clone, Args)]
pub struct CoordinatorUrl {
    /// The coordinator's URL
    #[arg(id = "coordinator", long = "coordinator", value_name = "URL", env = "RESIST_COORDINATOR", default_value = DEFAULT_COORDINATOR)]
    pub url: String,
}

/// Where the coordinator is and how the funder proves to be the funder.
#[derive(Debug, Clone, Args)]
pub struct AdminConnection {
    #[command(flatten)]
    pub coordinator: CoordinatorUrl,
    /// File holding the admin token [default: the coordinator's data directory/admin-token]
    #[arg(long, value_name = "FILE")]
    pub admin_token_file: Option<PathBuf>,
}

impl AdminConnection {
    /// A client of the coordinator's admin API.
    pub(crate) fn client(&self) -> Result<resist_client::Client, crate::Failure> {
        crate::admin::admin_client(&self.coordinator.url, self.admin_token_file.as_deref())
    }
}
