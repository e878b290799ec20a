//! Configuration layering shared by every role: built-in defaults, then the TOML
//! file, then `RESIST_<ROLE>_*` environment variables (`__` separates nested
//! keys), then command-line flags. A later source wins key by key.
//!
//! Errors name the key, the value and where the value came from (the file, the
//! environment variable, or the command line), so an operator fixes the right
//! place.

use std::path::Path;

use figment::error::Kind;
use figment::providers::{Env, Format, Serialized, Toml};
use figment::{Figment, Metadata, Source};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The keys set on the command line, as one layer. A named type, so that its
/// values can be told apart from the built-in defaults when reporting errors.
#[derive(Debug, Serialize)]
#[serde(transparent)]
struct CommandLine(toml::Table);

/// A configuration and the layers it came from.
#[derive(Debug)]
pub struct Layered<T> {
    /// The merged configuration.
    pub value: T,
    figment: Figment,
    env_prefix: String,
}

impl<T> Layered<T> {
    /// Where the dotted `key` got its value, e.g. "in node.toml" or "in
    /// environment variable RESIST_NODE_LIMITS__IDLE_TIMEOUT".
    pub fn source_of(&self, key: &str) -> String {
        let path: Vec<String> = key.split('.').map(str::to_string).collect();
        describe_source(self.figment.find_metadata(key), &path, &self.env_prefix)
    }

    /// The value of the dotted `key` as TOML text, if any layer sets it.
    pub fn value_of(&self, key: &str) -> Option<String> {
        let value = self.figment.find_value(key).ok()?;
        toml::Value::try_from(&value).ok().map(|v| v.to_string())
    }

    /// An error about `key`, naming its value and source.
    pub fn invalid(&self, key: &str, problem: &str) -> anyhow::Error {
        let value = self
            .value_of(key)
            .map(|v| format!(" = {v}"))
            .unwrap_or_default();
        anyhow::anyhow!(
            "invalid configuration: `{key}`{value} ({}): {problem}",
            self.source_of(key)
        )
    }
}

/// Loads a `T` from the layers. `env_prefix` is e.g. `RESIST_NODE_`; `flags` is
/// a table of the keys set on the command line.
pub fn load<T>(
    file: Option<&Path>,
    env_prefix: &str,
    flags: toml::Table,
) -> anyhow::Result<Layered<T>>
where
    T: Default + Serialize + DeserializeOwned,
{
    let mut figment = Figment::from(Serialized::defaults(T::default()));
    if let Some(path) = file {
        if !path.is_file() {
            anyhow::bail!(
                "config file {} not found (create one with `--print-default-config > FILE`, or drop --config)",
                path.display()
            );
        }
        figment = figment.merge(Toml::file_exact(path));
    }
    figment = figment
        .merge(Env::prefixed(env_prefix).split("__"))
        .merge(Serialized::defaults(CommandLine(flags)));
    match figment.extract() {
        Ok(value) => Ok(Layered {
            value,
            figment,
            env_prefix: env_prefix.to_string(),
        }),
        Err(e) => Err(describe(e, env_prefix)),
    }
}

/// Where a value came from, in words.
fn describe_source(metadata: Option<&Metadata>, path: &[String], env_prefix: &str) -> String {
    let Some(m) = metadata else {
        return "in the configuration".to_string();
    };
    match &m.source {
        Some(Source::File(file)) => format!("in {}", file.display()),
        _ if m.name.contains("environment") => {
            format!(
                "in environment variable {env_prefix}{}",
                path.join("__").to_uppercase()
            )
        }
        _ if m.name.contains("CommandLine") => "on the command line".to_string(),
        _ => "the built-in default".to_string(),
    }
}

/// Turns a figment error into one line per problem, naming key and source.
fn describe(error: figment::Error, env_prefix: &str) -> anyhow::Error {
    let lines: Vec<String> = error
        .into_iter()
        .map(|e| {
            let source = describe_source(e.metadata.as_ref(), &e.path, env_prefix);
            let key = e.path.join(".");
            match &e.kind {
                Kind::UnknownField(found, expected) => {
                    let section = e
                        .path
                        .get(..e.path.len().saturating_sub(1))
                        .unwrap_or_default()
                        .join(".");
                    let within = if section.is_empty() {
                        "top-level keys".to_string()
                    } else {
                        format!("keys of [{section}]")
                    };
                    let hint = closest(found, expected)
                        .map(|k| format!("did you mean `{k}`? "))
                        .unwrap_or_default();
                    format!(
                        "unknown key `{key}` ({source}); {hint}{within}: {}",
                        expected.join(", ")
                    )
                }
                Kind::UnknownVariant(found, expected) => {
                    let hint = closest(found, expected)
                        .map(|k| format!("did you mean `{k}`? "))
                        .unwrap_or_default();
                    format!(
                        "`{key}` = \"{found}\" ({source}) is not a known value; {hint}use one of: {}",
                        expected.join(", ")
                    )
                }
                kind => {
                    let mut text = format!("`{key}` ({source}): {kind}");
                    if text.ends_with("expected a duration") {
                        text.push_str(" such as \"30s\", \"5m\" or \"1h 30m\"");
                    }
                    text
                }
            }
        })
        .collect();
    anyhow::anyhow!("invalid configuration: {}", lines.join("; "))
}

/// The expected key closest to `found`, if it is a likely typo.
fn closest<'a>(found: &str, expected: &[&'a str]) -> Option<&'a str> {
    expected
        .iter()
        .map(|k| (edit_distance(found, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| k)
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn typo_suggestions() {
        let keys = ["idle_timeout", "connect_timeout", "max_connections"];
        assert_eq!(closest("idle_timout", &keys), Some("idle_timeout"));
        assert_eq!(closest("max_conections", &keys), Some("max_connections"));
        assert_eq!(closest("colour", &keys), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
