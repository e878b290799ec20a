//! docs/ARCHITECTURE.md cannot drift from the workspace: its mermaid graph
//! must list exactly the internal normal-dependency edges that
//! `cargo metadata` reports (dev- and build-dependencies are not drawn), and
//! its crate list must name every member of the workspace.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

/// An edge `from --> to`: `from` has `to` among its normal dependencies.
type Edge = (String, String);

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/resist is two levels under the workspace root")
        .to_path_buf()
}

/// The workspace's members and their internal normal-dependency edges.
fn cargo_graph(root: &Path) -> (BTreeSet<String>, BTreeSet<Edge>) {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metadata: Value = serde_json::from_slice(&out.stdout).expect("cargo metadata's JSON");
    let packages = metadata["packages"].as_array().expect("packages");
    let members: BTreeSet<String> = packages
        .iter()
        .map(|p| p["name"].as_str().expect("package name").to_owned())
        .collect();
    let mut edges = BTreeSet::new();
    for package in packages {
        let from = package["name"].as_str().expect("package name");
        for dep in package["dependencies"].as_array().expect("dependencies") {
            // `kind` is null for normal dependencies, "dev" or "build" otherwise.
            let name = dep["name"].as_str().expect("dependency name");
            if dep["kind"].is_null() && members.contains(name) {
                edges.insert((from.to_owned(), name.to_owned()));
            }
        }
    }
    (members, edges)
}

/// The edges of the first mermaid block in the document.
fn documented_edges(doc: &str) -> BTreeSet<Edge> {
    let start = doc
        .find("```mermaid")
        .expect("docs/ARCHITECTURE.md has a ```mermaid block");
    let block = &doc[start + "```mermaid".len()..];
    let block = &block[..block.find("```").expect("the mermaid block is closed")];
    block
        .lines()
        .filter_map(|line| {
            let (from, to) = line.split_once("-->")?;
            Some((from.trim().to_owned(), to.trim().to_owned()))
        })
        .collect()
}

fn show(edges: &BTreeSet<Edge>) -> String {
    edges
        .iter()
        .map(|(from, to)| format!("\n    {from} --> {to}"))
        .collect()
}

#[test]
fn documented_graph_is_the_workspace_graph() {
    let root = workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("read the doc");
    let (_, actual) = cargo_graph(&root);
    let documented = documented_edges(&doc);

    let missing: BTreeSet<Edge> = actual.difference(&documented).cloned().collect();
    let extra: BTreeSet<Edge> = documented.difference(&actual).cloned().collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "docs/ARCHITECTURE.md's graph differs from the workspace's normal dependencies.\n\
         missing from the doc (add them):{}\n\
         in the doc but not in any Cargo.toml (remove them):{}",
        show(&missing),
        show(&extra),
    );
}

#[test]
fn every_crate_is_described() {
    let root = workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).expect("read the doc");
    let (members, _) = cargo_graph(&root);
    let undescribed: Vec<&String> = members
        .iter()
        .filter(|name| !doc.contains(&format!("- **{name}**")))
        .collect();
    assert!(
        undescribed.is_empty(),
        "docs/ARCHITECTURE.md has no `- **name**` entry for {undescribed:?}"
    );
}
