//! Choosing the backend at run time from the coordinator's configuration: no
//! URL means the SQLite file in the data directory, otherwise the URL's
//! scheme decides.
//!
//! [`AnyStore`] is an enum, not a `dyn Store`: it implements every store
//! trait by matching on the variant (derived where the traits are declared,
//! in `traits.rs`), so the coordinator is compiled once, for `AnyStore`, and
//! the traits keep their `impl Future` methods.

use std::path::Path;

use crate::{PostgresStore, SqliteStore, StoreError};

/// A store on whichever backend the configuration names.
#[derive(Clone, Debug)]
pub enum AnyStore {
    /// The default: a SQLite file.
    Sqlite(SqliteStore),
    /// A PostgreSQL database, possibly shared by several coordinators.
    Postgres(PostgresStore),
}

impl AnyStore {
    /// Opens the store `url` names (`sqlite:…`, `postgres://…`,
    /// `postgresql://…`), or with no URL the SQLite file
    /// `data_dir/coordinator.sqlite3`. Any other scheme is
    /// [`StoreError::UnsupportedUrl`].
    pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<AnyStore, StoreError> {
        let Some(url) = url else {
            return Ok(AnyStore::Sqlite(SqliteStore::open_in(data_dir).await?));
        };
        let scheme = url.split_once(':').map_or("", |(scheme, _)| scheme);
        match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Ok(AnyStore::Sqlite(SqliteStore::connect(url).await?)),
            "postgres" | "postgresql" => Ok(AnyStore::Postgres(PostgresStore::connect(url).await?)),
            _ => Err(StoreError::UnsupportedUrl {
                scheme: printable_scheme(scheme),
            }),
        }
    }

    /// `"sqlite"` or `"postgres"`, for logs and the health endpoint.
    pub fn backend(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(_) => "sqlite",
            AnyStore::Postgres(_) => "postgres",
        }
    }
}

/// The scheme if it looks like one (RFC 3986: a letter, then letters, digits,
/// `+`, `-`, `.`); otherwise nothing, since `user:password@host` without a
/// scheme would put a user name here, and a URL may hold secrets.
fn printable_scheme(scheme: &str) -> String {
    let looks_like_scheme = scheme.len() <= 32
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if looks_like_scheme {
        scheme.to_owned()
    } else {
        String::new()
    }
}
