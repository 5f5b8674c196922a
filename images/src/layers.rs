//! The kernel's layering rules, checked from the crates' manifests and roots (a step
//! of `cargo xtask check`):
//!
//! - every crate of the kernel and its libraries has a place in [`LAYERS`], and
//!   depends (normal, target and build dependencies) only on workspace crates of
//!   lower layers: no crate imports one above it;
//! - a crate not allowed `unsafe` says `#![forbid(unsafe_code)]` at each crate
//!   root, so the compiler holds it to that.
//!
//! Development dependencies are exempt: a crate's tests may use crates above it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One crate's place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Place {
    /// The package name.
    pub package: &'static str,
    /// Its layer: it may depend only on crates of lower layers.
    pub layer: u8,
    /// Whether it may contain `unsafe` (the platforms, the rump hypercalls, and the
    /// program library's `syscall` instruction).
    pub unsafe_allowed: bool,
}

const fn place(package: &'static str, layer: u8, unsafe_allowed: bool) -> Place {
    Place {
        package,
        layer,
        unsafe_allowed,
    }
}

/// The layers, bottom first.
pub const LAYERS: &[Place] = &[
    place("ethos-abi", 0, false),
    place("ethos-typesys", 0, false),
    place("ethos-crypto", 0, false),
    place("ethos-devices", 1, false),
    place("rump-sys", 1, true),
    place("ethos-fs", 2, false),
    place("ethos-net", 2, false),
    place("ethos-core", 3, false),
    place("ethos-fs-rump", 3, false),
    place("ethos-virtio", 4, false),
    place("ethos-platform-x86_64", 5, true),
    place("ethos-platform-hosted", 5, true),
    place("ethos-selftest", 6, false),
    place("ethos-compat", 6, true),
    place("ethos-kernel", 7, false),
];

/// Workspace members that are tools and programs, not layers of the kernel.
const OUTSIDE_THE_LAYERS: &[&str] = &[
    "ethos-images",
    "ethos-tests",
    "hello",
    "system-test-programs",
    "ethos-typesys-sample",
];

/// A workspace member: its package name, manifest and crate roots.
#[derive(Clone, Debug)]
struct Member {
    package: String,
    manifest: toml::Table,
    directory: PathBuf,
}

fn read_table(path: &Path) -> Result<toml::Table, String> {
    let text =
        std::fs::read_to_string(path).map_err(|error| format!("{}: {error}", path.display()))?;
    text.parse::<toml::Table>()
        .map_err(|error| format!("{}: {error}", path.display()))
}

fn members(root: &Path) -> Result<Vec<Member>, String> {
    let workspace = read_table(&root.join("Cargo.toml"))?;
    let paths = workspace
        .get("workspace")
        .and_then(|workspace| workspace.get("members"))
        .and_then(toml::Value::as_array)
        .ok_or("Cargo.toml: no [workspace] members")?;
    let mut members = Vec::new();
    for path in paths.iter().filter_map(toml::Value::as_str) {
        let directory = root.join(path);
        let manifest = read_table(&directory.join("Cargo.toml"))?;
        let package = manifest
            .get("package")
            .and_then(|package| package.get("name"))
            .and_then(toml::Value::as_str)
            .ok_or_else(|| format!("{path}/Cargo.toml: no [package] name"))?
            .to_string();
        members.push(Member {
            package,
            manifest,
            directory,
        });
    }
    Ok(members)
}

/// The names of every dependency a crate builds with (not its tests').
fn dependencies(manifest: &toml::Table) -> Vec<String> {
    let mut tables: Vec<&toml::Table> = ["dependencies", "build-dependencies"]
        .iter()
        .filter_map(|key| manifest.get(*key)?.as_table())
        .collect();
    if let Some(targets) = manifest.get("target").and_then(toml::Value::as_table) {
        for target in targets.values().filter_map(toml::Value::as_table) {
            tables.extend(
                ["dependencies", "build-dependencies"]
                    .iter()
                    .filter_map(|key| target.get(*key)?.as_table()),
            );
        }
    }
    tables
        .into_iter()
        .flat_map(|table| {
            table.iter().map(|(key, value)| {
                value
                    .get("package")
                    .and_then(toml::Value::as_str)
                    .unwrap_or(key)
                    .to_string()
            })
        })
        .collect()
}

/// The crate roots a manifest builds: `src/lib.rs`, `src/main.rs` and every
/// `[[bin]]` path, where they exist.
fn roots(member: &Member) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = ["src/lib.rs", "src/main.rs"]
        .iter()
        .map(|path| member.directory.join(path))
        .filter(|path| path.is_file())
        .collect();
    for key in ["lib", "bin"] {
        let targets = match member.manifest.get(key) {
            Some(toml::Value::Array(targets)) => targets.iter().collect(),
            Some(table @ toml::Value::Table(_)) => vec![table],
            _ => Vec::new(),
        };
        for target in targets {
            if let Some(path) = target.get("path").and_then(toml::Value::as_str) {
                let path = member.directory.join(path);
                if !roots.contains(&path) {
                    roots.push(path);
                }
            }
        }
    }
    roots
}

/// Every breach of the rules in the workspace at `root`, as sentences; empty when
/// the layering holds.
pub fn violations(root: &Path, layers: &[Place]) -> Result<Vec<String>, String> {
    let members = members(root)?;
    let places: BTreeMap<&str, &Place> =
        layers.iter().map(|place| (place.package, place)).collect();
    let names: Vec<&str> = members
        .iter()
        .map(|member| member.package.as_str())
        .collect();
    let mut found = Vec::new();
    for member in &members {
        let name = member.package.as_str();
        if OUTSIDE_THE_LAYERS.contains(&name) {
            continue;
        }
        let Some(place) = places.get(name) else {
            found.push(format!(
                "`{name}` has no layer: give it a place in images/src/layers.rs"
            ));
            continue;
        };
        for dependency in dependencies(&member.manifest) {
            if !names.contains(&dependency.as_str()) {
                continue;
            }
            match places.get(dependency.as_str()) {
                Some(below) if below.layer < place.layer => {}
                Some(other) => found.push(format!(
                    "`{name}` (layer {}) depends on `{dependency}` (layer {}): a crate may \
                     import only crates below it",
                    place.layer, other.layer
                )),
                None => found.push(format!(
                    "`{name}` depends on `{dependency}`, which is not a layer of the kernel"
                )),
            }
        }
        if !place.unsafe_allowed {
            for root in roots(member) {
                let text = std::fs::read_to_string(&root)
                    .map_err(|error| format!("{}: {error}", root.display()))?;
                if !text.contains("#![forbid(unsafe_code)]") {
                    found.push(format!(
                        "`{name}`: {} does not say `#![forbid(unsafe_code)]`; only the \
                         platforms, rump-sys and compat's `syscall` may hold `unsafe`",
                        root.strip_prefix(&member.directory)
                            .unwrap_or(&root)
                            .display()
                    ));
                }
            }
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_keeps_its_layers() {
        let found = violations(&crate::workspace_root(), LAYERS).unwrap();
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn an_upward_import_and_a_missing_forbid_are_found() {
        // The same workspace judged against a table where the core sits above the
        // devices and the devices may not hold unsafe but the kernel is unplaced.
        let mut moved: Vec<Place> = LAYERS.to_vec();
        for place in &mut moved {
            if place.package == "ethos-abi" {
                place.layer = 9;
            }
        }
        moved.retain(|place| place.package != "ethos-kernel");
        let found = violations(&crate::workspace_root(), &moved).unwrap();
        assert!(
            found
                .iter()
                .any(|line| line
                    .starts_with("`ethos-core` (layer 3) depends on `ethos-abi` (layer 9)")),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|line| line.starts_with("`ethos-kernel` has no layer")),
            "{found:#?}"
        );
        let mut unsafe_refused = LAYERS.to_vec();
        for place in &mut unsafe_refused {
            if place.package == "ethos-platform-x86_64" {
                place.unsafe_allowed = false;
            }
        }
        let found = violations(&crate::workspace_root(), &unsafe_refused).unwrap();
        assert!(
            found
                .iter()
                .any(|line| line.starts_with("`ethos-platform-x86_64`: src/lib.rs does not say")),
            "{found:#?}"
        );
    }
}
