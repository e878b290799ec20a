//! Configuration layering shared by every role: built-in defaults, then the TOML
//! file, then `RESIST_<ROLE>_*` environment variables (`__` separates nested
//! keys), then command-line flags. A later source wins key by key.
//!
//! Errors name the key and where its value came from, so an operator can fix
//! the right file or variable.

use std::path::Path;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Loads a `T` from the layers. `env_prefix` is e.g. `RESIST_NODE_`; `flags` is
/// a table of the keys set on the command line.
pub fn load<T>(file: Option<&Path>, env_prefix: &str, flags: toml::Table) -> anyhow::Result<T>
where
    T: Default + Serialize + DeserializeOwned,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.is_file() {
            anyhow::bail!(
                "config file {} not found (create it from `--print-default-config`, or drop --config)",
                path.display()
            );
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment
        .merge(Env::prefixed(env_prefix).split("__"))
        .merge(Serialized::defaults(flags));
    figment.extract().map_err(|e| describe(e, env_prefix))
}

/// Turns a figment error into one line per problem, naming key and source.
fn describe(error: figment::Error, env_prefix: &str) -> anyhow::Error {
    let lines: Vec<String> = error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let source = match e.metadata.as_ref() {
                Some(m) => match &m.source {
                    Some(figment::Source::File(path)) => format!("in {}", path.display()),
                    _ if m.name.contains("environment") => {
                        let var = format!("{env_prefix}{}", e.path.join("__").to_uppercase());
                        format!("in environment variable {var}")
                    }
                    _ if m.name.contains("Serialized") => "on the command line".to_string(),
                    _ => format!("from {}", m.name),
                },
                None => "in the configuration".to_string(),
            };
            if key.is_empty() {
                format!("{} ({source})", e.kind)
            } else {
                format!("`{key}`: {} ({source})", e.kind)
            }
        })
        .collect();
    anyhow::anyhow!("invalid configuration: {}", lines.join("; "))
}
