//! Where things are: the workspace root, the target directory, the report
//! directory, and the suites found in `bench/` by file name.
//!
//! A suite `s` exists when any of these does: a `[[bench]] name = "s"` entry
//! in `bench/Cargo.toml`, a harness binary `bench/src/bin/s_*.rs`, or a Python
//! script `bench/cpython/s_*.py` (see `bench/README.md`).

use std::{
    env, fs,
    path::{Path, PathBuf},
};

use crate::report::SUITE_ORDER;

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the root when
/// relative) or `<root>/target`.
pub fn target_dir(root: &Path) -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => root.join(dir),
        _ => root.join("target"),
    }
}

/// `<target>/coil-report`.
pub fn report_dir(root: &Path) -> PathBuf {
    target_dir(root).join("coil-report")
}

/// The benchmark files of one suite.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Suite {
    /// `heap`
    pub name: String,
    /// True when `bench/Cargo.toml` declares `[[bench]] name = "<name>"`.
    pub criterion: bool,
    /// Harness binaries, by binary name: `heap_rss`.
    pub bins: Vec<String>,
    /// Python scripts, as paths.
    pub scripts: Vec<PathBuf>,
}

/// The `[[bench]]` names declared in a Cargo.toml text.
pub fn bench_names(manifest: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut in_bench = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_bench = line == "[[bench]]";
            continue;
        }
        if !in_bench {
            continue;
        }
        if let Some(rest) = line.strip_prefix("name") {
            let value = rest.trim_start().trim_start_matches('=').trim();
            names.push(value.trim_matches('"').to_string());
        }
    }
    names
}

fn stems(dir: &Path, ext: &str) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_string(), p)))
        .collect();
    out.sort();
    out
}

/// The suite a harness or script file name belongs to: the part before the
/// first `_`.
pub fn suite_of(stem: &str) -> &str {
    stem.split('_').next().unwrap_or(stem)
}

/// Every suite under `<root>/bench`, in report order.
pub fn suites(root: &Path) -> Vec<Suite> {
    let bench = root.join("bench");
    let manifest = fs::read_to_string(bench.join("Cargo.toml")).unwrap_or_default();
    let mut suites: Vec<Suite> = Vec::new();
    fn get(suites: &mut Vec<Suite>, name: &str) -> usize {
        match suites.iter().position(|s| s.name == name) {
            Some(i) => i,
            None => {
                suites.push(Suite {
                    name: name.to_string(),
                    ..Suite::default()
                });
                suites.len() - 1
            }
        }
    }
    for name in bench_names(&manifest) {
        let i = get(&mut suites, &name);
        suites[i].criterion = true;
    }
    for (stem, _) in stems(&bench.join("src/bin"), "rs") {
        let i = get(&mut suites, suite_of(&stem));
        suites[i].bins.push(stem);
    }
    for (stem, path) in stems(&bench.join("cpython"), "py") {
        let i = get(&mut suites, suite_of(&stem));
        suites[i].scripts.push(path);
    }
    let rank = |n: &str| {
        (
            SUITE_ORDER
                .iter()
                .position(|s| *s == n)
                .unwrap_or(SUITE_ORDER.len()),
            n.to_string(),
        )
    };
    suites.sort_by_key(|s| rank(&s.name));
    suites
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bench_names_reads_bench_tables_only() {
        let toml = "[package]\nname = \"coil-bench\"\n\n[[bench]]\nname = \"heap\"\nharness = false\n\n[[bin]]\nname = \"x\"\n[[bench]]\nharness = false\nname=\"gc\"\n";
        assert_eq!(bench_names(toml), ["heap", "gc"]);
    }

    #[test]
    fn suite_names_come_from_file_prefixes() {
        assert_eq!(suite_of("heap_rss"), "heap");
        assert_eq!(suite_of("gc_auto_pause"), "gc");
        assert_eq!(suite_of("threads"), "threads");
    }

    #[test]
    fn the_heap_suite_is_found_in_this_workspace() {
        let suites = suites(&root());
        let heap = suites
            .iter()
            .find(|s| s.name == "heap")
            .expect("heap suite");
        assert!(heap.criterion);
        assert!(heap.bins.contains(&"heap_rss".to_string()));
    }
}
