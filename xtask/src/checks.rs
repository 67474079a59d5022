//! `cargo xtask ci`, `cargo xtask miri` and `cargo xtask tidy`.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use crate::layout;

fn step(name: &str, program: &str, args: &[&str]) -> Result<(), String> {
    println!("== {name}: {program} {}", args.join(" "));
    let t0 = Instant::now();
    let status = Command::new(program)
        .args(args)
        .current_dir(layout::root())
        .status()
        .map_err(|e| format!("{name}: cannot start {program}: {e}"))?;
    if status.success() {
        println!("== {name}: ok ({:.0} s)", t0.elapsed().as_secs_f64());
        Ok(())
    } else {
        Err(format!("{name} failed ({status})"))
    }
}

fn cargo_bin() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// `cargo xtask ci`: what `.ci/run` runs — fmt check, clippy with warnings
/// denied, the workspace tests — stopping at the first failure.
pub fn ci(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("unexpected argument {a}; usage: cargo xtask ci"));
    }
    let cargo = cargo_bin();
    step("fmt", &cargo, &["fmt", "--all", "--", "--check"])?;
    step(
        "clippy",
        &cargo,
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    step("test", &cargo, &["test", "--workspace"])?;
    println!("ci: all green");
    Ok(())
}

/// Crates with unsafe cores that run under miri by default.
pub const MIRI_CRATES: [&str; 3] = ["coil-heap", "coil-refcount", "coil-gc"];

fn nightly(args: &[&str]) -> Command {
    // `cargo +nightly` goes through rustup's proxy, not the stable cargo
    // binary that runs xtask.
    let mut cmd = Command::new("cargo");
    cmd.arg("+nightly")
        .args(args)
        .current_dir(layout::root())
        .env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

fn miri_installed() -> bool {
    Command::new("rustup")
        .args(["+nightly", "component", "list", "--installed"])
        .output()
        .is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.starts_with("miri"))
        })
}

const MIRI_USAGE: &str = "usage: cargo xtask miri [--no-doc] [--jobs N] [crate...]";

/// `cargo xtask miri [--no-doc] [--jobs N] [crate...]`: the unsafe cores
/// under miri. Installs the nightly miri component when missing; when that is
/// impossible (no nightly, no network) it says so and skips, successfully.
/// `--no-doc` runs the unit and integration tests only: under miri every
/// doctest is its own interpreted program, and the doctests are about a third
/// of the time while adding little over the tests. `--jobs N` runs up to N
/// crates at once, each in its own target directory (`target/miri-<crate>`),
/// and prints each crate's output when it ends: miri interprets one test
/// binary at a time on one CPU. CI uses both.
pub fn miri(args: &[String]) -> Result<(), String> {
    let mut no_doc = false;
    let mut jobs = 1usize;
    let mut named: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--no-doc" => no_doc = true,
            "--jobs" => {
                jobs = it
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--jobs needs a positive number; {MIRI_USAGE}"))?;
            }
            o if o.starts_with('-') => return Err(format!("unexpected option {o}; {MIRI_USAGE}")),
            c => named.push(c),
        }
    }
    let crates: Vec<&str> = if named.is_empty() {
        MIRI_CRATES.to_vec()
    } else {
        named
    };
    if !miri_installed() {
        println!(
            "miri: not installed; trying `rustup component add --toolchain nightly miri rust-src`"
        );
        let ok = Command::new("rustup")
            .args([
                "component",
                "add",
                "--toolchain",
                "nightly",
                "miri",
                "rust-src",
            ])
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !miri_installed() {
            println!(
                "miri: SKIPPED — the nightly toolchain's miri component is not installed and could not be \
                 installed here (no nightly toolchain or no network). Install it with \
                 `rustup component add --toolchain nightly miri rust-src` and run `cargo xtask miri` again."
            );
            return Ok(());
        }
    }
    let setup = nightly(&["miri", "setup"])
        .status()
        .is_ok_and(|s| s.success());
    if !setup {
        println!(
            "miri: SKIPPED — `cargo +nightly miri setup` failed (it needs the rust-src component)"
        );
        return Ok(());
    }
    // coil-heap finds a block's pool header by masking the address and reads it
    // through the arena's exposed provenance (documented in heap/src/arena.rs), so
    // strict provenance would reject it by design; permissive provenance still
    // checks every access against a live allocation.
    let flags = env::var("MIRIFLAGS").unwrap_or_else(|_| "-Zmiri-permissive-provenance".into());
    let run = |c: &str, target: Option<PathBuf>| -> (bool, String) {
        let mut cmd = vec!["miri", "test", "-p", c];
        if no_doc {
            cmd.extend(["--lib", "--tests"]);
        }
        let mut head = format!(
            "== miri: cargo +nightly {}  (MIRIFLAGS={flags})",
            cmd.join(" ")
        );
        let t0 = Instant::now();
        let mut command = nightly(&cmd);
        command.env("MIRIFLAGS", &flags);
        let (ok, out) = match target {
            // In parallel: a target directory of its own (cargo's lock would
            // serialise the runs), output kept and printed whole at the end.
            Some(dir) => match command.env("CARGO_TARGET_DIR", &dir).output() {
                Ok(o) => (
                    o.status.success(),
                    format!(
                        "{}{}",
                        String::from_utf8_lossy(&o.stdout),
                        String::from_utf8_lossy(&o.stderr)
                    ),
                ),
                Err(e) => (false, format!("cannot start cargo: {e}\n")),
            },
            None => {
                println!("{head}");
                head.clear();
                (command.status().is_ok_and(|s| s.success()), String::new())
            }
        };
        let tail = format!(
            "== miri {c}: {} ({:.0} s)",
            if ok { "ok" } else { "FAILED" },
            t0.elapsed().as_secs_f64()
        );
        (
            ok,
            format!(
                "{head}{}{out}{tail}",
                if head.is_empty() { "" } else { "\n" }
            ),
        )
    };
    let mut failed = Vec::new();
    if jobs <= 1 || crates.len() <= 1 {
        for c in &crates {
            let (ok, text) = run(c, None);
            println!("{text}");
            if !ok {
                failed.push(*c);
            }
        }
    } else {
        let base = env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| layout::target_dir(&layout::root()));
        println!(
            "== miri: {} crates, {jobs} at a time (output printed as each ends)",
            crates.len()
        );
        let next = std::sync::atomic::AtomicUsize::new(0);
        let done = std::sync::Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..jobs.min(crates.len()) {
                s.spawn(|| {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(c) = crates.get(i) else { break };
                        let (ok, text) = run(c, Some(base.join(format!("miri-{c}"))));
                        println!("{text}");
                        done.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((*c, ok));
                    }
                });
            }
        });
        let done = done.into_inner().unwrap_or_else(|e| e.into_inner());
        failed.extend(done.iter().filter(|(_, ok)| !ok).map(|(c, _)| *c));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("miri failed for {}", failed.join(", ")))
    }
}

/// The tidy rules for one Rust file: its problems, as `line: what`.
///
/// - the file opens with a `//!` doc comment;
/// - every `unsafe {` has a `// SAFETY:` comment above it (in the comment
///   block right before it, or before the statement it continues);
/// - no `dbg!`;
/// - no trailing whitespace.
pub fn tidy_file(text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    if !first.trim_start().starts_with("//!") {
        problems.push("1: does not open with a `//!` doc comment".to_string());
    }
    let unsafe_block = ["unsafe", " {"].concat();
    let dbg = ["dbg", "!("].concat();
    let lines: Vec<&str> = text.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        if line.ends_with(' ') || line.ends_with('\t') {
            problems.push(format!("{}: trailing whitespace", i + 1));
        }
        if code.contains(&dbg) {
            problems.push(format!("{}: `dbg!` left in", i + 1));
        }
        if code.contains(&unsafe_block) && !code.contains("SAFETY:") && !safety_above(&lines, i) {
            problems.push(format!(
                "{}: `unsafe {{` without a `// SAFETY:` comment above",
                i + 1
            ));
        }
    }
    problems
}

/// Walks up from line `i` through comments and through lines the statement
/// continues (not ending in `;`, `{`, `}` or `,`), looking for `SAFETY:`.
fn safety_above(lines: &[&str], i: usize) -> bool {
    let mut j = i;
    while j > 0 {
        j -= 1;
        let l = lines[j].trim();
        if l.starts_with("//") {
            if l.contains("SAFETY:") {
                return true;
            }
            continue;
        }
        if l.contains("SAFETY:") {
            return true;
        }
        if l.is_empty()
            || l.ends_with(';')
            || l.ends_with('{')
            || l.ends_with('}')
            || l.ends_with(',')
        {
            return false;
        }
    }
    false
}

fn rust_files(root: &Path) -> Vec<PathBuf> {
    let target = layout::target_dir(root);
    let mut files = Vec::new();
    let mut work = vec![root.to_path_buf()];
    while let Some(dir) = work.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if p.is_dir() {
                if !name.starts_with('.')
                    && name != "target"
                    && !name.starts_with("target-")
                    && p != target
                {
                    work.push(p);
                }
            } else if name.ends_with(".rs") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// `cargo xtask tidy`: [`tidy_file`] over every `.rs` file of the workspace.
pub fn tidy(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("unexpected argument {a}; usage: cargo xtask tidy"));
    }
    let root = layout::root();
    let mut count = 0;
    let files = rust_files(&root);
    for f in &files {
        let text = fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        for p in tidy_file(&text) {
            println!("{}:{p}", f.strip_prefix(&root).unwrap_or(f).display());
            count += 1;
        }
    }
    if count == 0 {
        println!("tidy: {} files clean", files.len());
        Ok(())
    } else {
        Err(format!("tidy: {count} problems"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `unsafe` + ` {`, kept apart so this file passes its own rule.
    fn u() -> String {
        ["unsafe", " {"].concat()
    }

    #[test]
    fn clean_file_passes() {
        let u = u();
        let text = format!(
            "//! Doc.\n\nfn f(p: *const u8) -> u8 {{\n    // SAFETY: p is valid.\n    {u} *p }}\n}}\n\
             fn g(p: *const u8) -> u8 {{\n    // SAFETY: p is valid,\n    // and aligned.\n    let x =\n        {u} *p }};\n    x\n}}\n"
        );
        assert_eq!(tidy_file(&text), Vec::<String>::new());
    }

    #[test]
    fn each_rule_is_reported_with_its_line() {
        let (u, dbg) = (u(), ["dbg", "!(x)"].concat());
        let text = format!(
            "fn f(p: *const u8) -> u8 {{ \n    let y = 1;\n    {dbg};\n    {u} *p }}\n}}\n"
        );
        let problems = tidy_file(&text);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(problems[0].starts_with("1: does not open"));
        assert!(problems[1].starts_with("1: trailing whitespace"));
        assert!(problems[2].starts_with("3: `dbg!`"));
        assert!(problems[3].starts_with("4: `unsafe") && problems[3].contains("without a"));
    }

    #[test]
    fn unsafe_in_comments_and_docs_is_ignored() {
        let u = u();
        let text =
            format!("//! Talks about `{u} }}` blocks.\n/// `{u} x }}` in a doc\nfn f() {{}}\n");
        assert!(tidy_file(&text).is_empty());
    }

    #[test]
    fn xtask_itself_is_tidy() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        for e in fs::read_dir(dir).unwrap().flatten() {
            let text = fs::read_to_string(e.path()).unwrap();
            assert_eq!(
                tidy_file(&text),
                Vec::<String>::new(),
                "{}",
                e.path().display()
            );
        }
    }
}
