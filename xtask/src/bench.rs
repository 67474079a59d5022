//! `cargo xtask bench` and `cargo xtask cpython`: run the suites, merge their
//! rows into `results.json`, and write the report.

use std::{
    collections::BTreeSet,
    env,
    fs::{self, File},
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant, SystemTime},
};

use crate::{
    criterion::{self, Progress},
    goals, layout,
    layout::Suite,
    machine::{self, Meta},
    report::{self, Report},
    results::{self, Row},
};

/// Criterion flags of the quick profile.
pub const QUICK_FLAGS: [&str; 4] = ["--warm-up-time", "0.3", "--measurement-time", "1"];

/// What the user asked to run: a suite, and maybe a workload prefix in it
/// (`heap/churn` → suite `heap`, filter `churn`).
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// The suite.
    pub suite: String,
    /// The workload prefix, if any.
    pub filter: Option<String>,
}

impl Selection {
    /// Parses `suite` or `suite/workload-prefix`.
    pub fn parse(arg: &str) -> Selection {
        match arg.split_once('/') {
            Some((s, f)) if !f.is_empty() => Selection {
                suite: s.into(),
                filter: Some(f.into()),
            },
            Some((s, _)) => Selection {
                suite: s.into(),
                filter: None,
            },
            None => Selection {
                suite: arg.into(),
                filter: None,
            },
        }
    }

    fn wants_workload(&self, workload: &str) -> bool {
        self.filter
            .as_deref()
            .is_none_or(|f| workload.starts_with(f))
    }

    /// Whether harness binary `bin` runs for this selection: always without a
    /// filter, else when the filter starts with the binary's tail
    /// (`heap/rss-after-free` runs `heap_rss`).
    fn wants_bin(&self, bin: &str) -> bool {
        let tail = bin.split_once('_').map_or("", |(_, t)| t).replace('_', "-");
        self.filter
            .as_deref()
            .is_none_or(|f| !tail.is_empty() && f.starts_with(&tail))
    }
}

/// Checks the requested suites against the ones found; empty means all.
fn select<'s>(
    found: &'s [Suite],
    args: &[String],
    want: fn(&Suite) -> bool,
) -> Result<Vec<(&'s Suite, Selection)>, String> {
    if args.is_empty() {
        return Ok(found
            .iter()
            .filter(|s| want(s))
            .map(|s| (s, Selection::parse(&s.name)))
            .collect());
    }
    let known: Vec<&str> = found
        .iter()
        .filter(|s| want(s))
        .map(|s| s.name.as_str())
        .collect();
    args.iter()
        .map(|a| {
            let sel = Selection::parse(a);
            found
                .iter()
                .find(|s| s.name == sel.suite && want(s))
                .map(|s| (s, sel.clone()))
                .ok_or_else(|| {
                    format!(
                        "no suite {:?} here; suites: {}",
                        sel.suite,
                        known.join(", ")
                    )
                })
        })
        .collect()
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(layout::root());
    cmd
}

fn run_inherit(mut cmd: Command, what: &str) -> Result<(), String> {
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: cannot start: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

fn log_file(dir: &Path, name: &str) -> Result<(PathBuf, File), String> {
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let path = logs.join(format!("{name}.log"));
    let file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((path, file))
}

fn secs(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

/// Runs one criterion bench, printing one progress line per group.
fn run_criterion(
    suite: &str,
    sel: &Selection,
    full: bool,
    report_dir: &Path,
) -> Result<(), String> {
    let (log_path, mut log) = log_file(report_dir, &format!("criterion-{suite}"))?;
    let mut cmd = cargo();
    cmd.args([
        "bench",
        "--quiet",
        "-p",
        "coil-bench",
        "--bench",
        suite,
        "--",
    ]);
    if let Some(f) = &sel.filter {
        cmd.arg(format!("{suite}/{f}"));
    }
    if !full {
        cmd.args(QUICK_FLAGS);
    }
    cmd.env(
        "CRITERION_HOME",
        layout::target_dir(&layout::root()).join("criterion"),
    );
    cmd.stdout(Stdio::piped())
        .stderr(log.try_clone().map_err(|e| e.to_string())?);
    let mut child = cmd.spawn().map_err(|e| format!("cargo bench: {e}"))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut progress = Progress::default();
    let mut group: Option<(String, Instant)> = None;
    let mut out = std::io::stdout();
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| e.to_string())?;
        let _ = writeln!(log, "{line}");
        let Some((id, time)) = progress.line(&line) else {
            continue;
        };
        let (g, function) = id.rsplit_once('/').unwrap_or((id.as_str(), ""));
        if group.as_ref().is_none_or(|(cur, _)| cur != g) {
            if let Some((_, t0)) = group.take() {
                let _ = writeln!(out, "  ({})", secs(t0.elapsed()));
            }
            let _ = write!(out, "  {g:<26}");
            group = Some((g.to_string(), Instant::now()));
        }
        let _ = write!(out, " {function} {time} ·");
        let _ = out.flush();
    }
    if let Some((_, t0)) = group {
        let _ = writeln!(out, "  ({})", secs(t0.elapsed()));
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!(
            "criterion bench {suite} failed ({status}); see {}",
            log_path.display()
        ));
    }
    Ok(())
}

/// Runs one harness binary and returns its rows.
fn run_harness(bin: &str, full: bool, report_dir: &Path) -> Result<Vec<Row>, String> {
    let (log_path, log) = log_file(report_dir, bin)?;
    let exe = layout::target_dir(&layout::root())
        .join("release")
        .join(bin);
    let t0 = Instant::now();
    print!("  {bin:<26} running …");
    let _ = std::io::stdout().flush();
    let out = Command::new(&exe)
        .env("COIL_BENCH_PROFILE", if full { "full" } else { "quick" })
        .stderr(log)
        .output()
        .map_err(|e| format!("{}: {e}", exe.display()))?;
    if !out.status.success() {
        println!();
        return Err(format!(
            "{bin} failed ({}); see {}",
            out.status,
            log_path.display()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let rows = results::parse_lines(&text).map_err(|e| format!("{bin}: {e}"))?;
    println!("\r  {bin:<26} {} rows ({})", rows.len(), secs(t0.elapsed()));
    Ok(rows)
}

/// `cargo xtask bench [--full] [suite[/workload-prefix]...]`.
pub fn bench(args: &[String]) -> Result<(), String> {
    if args.iter().any(|a| a == "--list") {
        print!("{}", list(&layout::suites(&layout::root())));
        return Ok(());
    }
    let full = args.iter().any(|a| a == "--full");
    if let Some(bad) = args.iter().find(|a| a.starts_with('-') && *a != "--full") {
        return Err(format!(
            "unknown option {bad}; usage: cargo xtask bench [--full | --list] [suite...]"
        ));
    }
    let names: Vec<String> = args
        .iter()
        .filter(|a| !a.starts_with('-'))
        .cloned()
        .collect();
    let root = layout::root();
    let found = layout::suites(&root);
    let chosen = select(&found, &names, |s| s.criterion || !s.bins.is_empty())?;
    if chosen.is_empty() {
        return Err("no benchmark suites found under bench/".into());
    }
    let dir = layout::report_dir(&root);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let profile = if full { "full" } else { "quick" };
    let list: Vec<String> = names_of(&chosen);
    println!("coil bench: {} ({profile} profile)", list.join(", "));

    // Criterion writes whole seconds on some filesystems; allow for that.
    let since = SystemTime::now() - Duration::from_secs(2);
    let t0 = Instant::now();
    let mut new_rows = Vec::new();
    let mut done: Vec<&str> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    // Suite by suite, so one suite that does not build or run costs only its
    // own figures; the report is written for the others.
    for (suite, sel) in &chosen {
        println!("{}", suite.name);
        match run_suite(suite, sel, full, &dir) {
            Ok(rows) => {
                new_rows.extend(rows);
                done.push(&suite.name);
            }
            Err(e) => {
                println!("  {}: SKIPPED — {e}", suite.name);
                failed.push(suite.name.clone());
            }
        }
    }
    let (estimates, problems) =
        criterion::collect(&layout::target_dir(&root).join("criterion"), since);
    for p in problems {
        eprintln!("warning: {p}");
    }
    for e in estimates {
        for row in e.rows().unwrap_or_default() {
            let wanted = chosen.iter().any(|(s, sel)| {
                s.name == row.suite
                    && done.contains(&s.name.as_str())
                    && sel.wants_workload(&row.workload)
            });
            if wanted {
                new_rows.push(row);
            }
        }
    }
    println!("ran in {}", secs(t0.elapsed()));

    let mut meta = machine::parse(&fs::read_to_string(dir.join("meta.json")).unwrap_or_default());
    for (k, v) in machine::collect() {
        machine::set(&mut meta, &k, v);
    }
    machine::set(&mut meta, "profile", profile);
    let replaced = |r: &Row| {
        !r.is_cpython()
            && chosen.iter().any(|(s, sel)| {
                s.name == r.suite
                    && done.contains(&s.name.as_str())
                    && (sel.filter.is_none()
                        || new_rows
                            .iter()
                            .any(|n| n.suite == r.suite && n.workload == r.workload))
            })
    };
    let old = read_results(&dir)?;
    let rows = results::merge(old, new_rows.clone(), replaced);
    write_all(&dir, &rows, &mut meta)?;
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "suites skipped: {} (see the messages above)",
            failed.join(", ")
        ))
    }
}

/// Builds and runs one suite: its criterion bench (rows are read from
/// criterion's files afterwards) and its harness binaries (rows returned).
fn run_suite(suite: &Suite, sel: &Selection, full: bool, dir: &Path) -> Result<Vec<Row>, String> {
    let bins: Vec<&String> = suite.bins.iter().filter(|b| sel.wants_bin(b)).collect();
    if suite.criterion {
        let mut cmd = cargo();
        cmd.args([
            "bench",
            "--quiet",
            "-p",
            "coil-bench",
            "--no-run",
            "--bench",
            &suite.name,
        ]);
        run_inherit(cmd, "building the bench")?;
    }
    if !bins.is_empty() {
        let mut cmd = cargo();
        cmd.args(["build", "--quiet", "--release", "-p", "coil-bench"]);
        for b in &bins {
            cmd.args(["--bin", b]);
        }
        run_inherit(cmd, "building the harness binaries")?;
    }
    if suite.criterion {
        run_criterion(&suite.name, sel, full, dir)?;
    }
    let mut rows = Vec::new();
    for bin in bins {
        let out = run_harness(bin, full, dir)?;
        rows.extend(
            out.into_iter()
                .filter(|r| r.suite == suite.name && sel.wants_workload(&r.workload)),
        );
    }
    Ok(rows)
}

/// The suites and their files, one suite per line (`--list`).
pub fn list(suites: &[Suite]) -> String {
    let mut out = String::new();
    for s in suites {
        let mut parts = Vec::new();
        if s.criterion {
            parts.push(format!("benches/{}.rs", s.name));
        }
        parts.extend(s.bins.iter().map(|b| format!("src/bin/{b}.rs")));
        parts.extend(
            s.scripts
                .iter()
                .filter_map(|p| p.file_name())
                .map(|f| format!("cpython/{}", f.to_string_lossy())),
        );
        out.push_str(&format!("{:<10} {}\n", s.name, parts.join("  ")));
    }
    out
}

fn names_of(chosen: &[(&Suite, Selection)]) -> Vec<String> {
    chosen
        .iter()
        .map(|(s, sel)| match &sel.filter {
            Some(f) => format!("{}/{f}", s.name),
            None => s.name.clone(),
        })
        .collect()
}

fn read_results(dir: &Path) -> Result<Vec<Row>, String> {
    match fs::read_to_string(dir.join("results.json")) {
        Ok(text) => results::parse_results(&text)
            .map_err(|e| format!("{}: {e}", dir.join("results.json").display())),
        Err(_) => Ok(Vec::new()),
    }
}

/// Whether a script asks for a second run under `PYTHONMALLOC=malloc`.
pub fn wants_pythonmalloc(script: &str) -> bool {
    script
        .lines()
        .take(5)
        .any(|l| l.trim() == "# coil-bench: pythonmalloc")
}

/// The implementation name of a CPython row: the run's label (`cpython`,
/// `cpython-malloc`) followed by any variant suffix the script gave
/// (`cpython-default-chunks` under `PYTHONMALLOC=malloc` becomes
/// `cpython-malloc-default-chunks`).
fn cpython_impl(label: &str, script_impl: &str) -> String {
    match script_impl.strip_prefix("cpython") {
        Some(rest) if rest.starts_with('-') => format!("{label}{rest}"),
        _ => label.to_string(),
    }
}

/// `cargo xtask cpython [suite...]`.
pub fn cpython(args: &[String]) -> Result<(), String> {
    if let Some(bad) = args.iter().find(|a| a.starts_with('-')) {
        return Err(format!(
            "unknown option {bad}; usage: cargo xtask cpython [suite...]"
        ));
    }
    let Some(version) = machine::command_line("python3", &["--version"]) else {
        return Err(
            "python3 is not on the PATH; install CPython 3 to get the CPython columns".into(),
        );
    };
    let root = layout::root();
    let found = layout::suites(&root);
    let chosen = select(&found, args, |s| !s.scripts.is_empty())?;
    let dir = layout::report_dir(&root);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    println!(
        "coil cpython: {} with {version}",
        names_of(&chosen).join(", ")
    );
    // The coil side first, for suites that have none yet ("each workload in
    // coil and in CPython, one after the other").
    let have = read_results(&dir)?;
    let missing: Vec<String> = chosen
        .iter()
        .filter(|(s, _)| s.criterion || !s.bins.is_empty())
        .filter(|(s, _)| !have.iter().any(|r| !r.is_cpython() && r.suite == s.name))
        .map(|(s, _)| s.name.clone())
        .collect();
    if !missing.is_empty() {
        println!(
            "no coil figures yet for {}; running `cargo xtask bench {}` first",
            missing.join(", "),
            missing.join(" ")
        );
        if let Err(e) = bench(&missing) {
            println!("warning: {e}");
        }
    }
    let mut new_rows = Vec::new();
    for (suite, _) in &chosen {
        for script in &suite.scripts {
            let text =
                fs::read_to_string(script).map_err(|e| format!("{}: {e}", script.display()))?;
            let mut variants = vec![("cpython", None)];
            if wants_pythonmalloc(&text) {
                variants.push(("cpython-malloc", Some("malloc")));
            }
            for (label, pymalloc) in variants {
                let name = script
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("script");
                let (log_path, log) = log_file(&dir, &format!("{name}-{label}"))?;
                let t0 = Instant::now();
                print!("  {:<34} running …", format!("{name} ({label})"));
                let _ = std::io::stdout().flush();
                let mut cmd = Command::new("python3");
                cmd.arg(script)
                    .env("COIL_BENCH_PROFILE", "quick")
                    .env_remove("PYTHONMALLOC")
                    .stderr(log);
                if let Some(m) = pymalloc {
                    cmd.env("PYTHONMALLOC", m);
                }
                let out = cmd.output().map_err(|e| format!("python3: {e}"))?;
                if !out.status.success() {
                    println!();
                    return Err(format!(
                        "{} failed ({}); see {}",
                        script.display(),
                        out.status,
                        log_path.display()
                    ));
                }
                let rows = results::parse_lines(&String::from_utf8_lossy(&out.stdout))
                    .map_err(|e| format!("{}: {e}", script.display()))?;
                let rows: Vec<Row> = rows
                    .into_iter()
                    .map(|mut r| {
                        // A script may name a variant of its own
                        // (`cpython-default-chunks`): keep the suffix.
                        r.imp = cpython_impl(label, &r.imp);
                        r
                    })
                    .collect();
                println!(
                    "\r  {:<34} {} rows ({})",
                    format!("{name} ({label})"),
                    rows.len(),
                    secs(t0.elapsed())
                );
                new_rows.extend(rows);
            }
        }
    }
    let suites: BTreeSet<&str> = chosen.iter().map(|(s, _)| s.name.as_str()).collect();
    let old = read_results(&dir)?;
    let rows = results::merge(old, new_rows, |r| {
        r.is_cpython() && suites.contains(r.suite.as_str())
    });
    let mut meta = machine::parse(&fs::read_to_string(dir.join("meta.json")).unwrap_or_default());
    if machine::get(&meta, "date").is_none() {
        meta = machine::collect();
    }
    machine::set(&mut meta, "python", version);
    write_all(&dir, &rows, &mut meta)
}

/// `cargo xtask report`: re-renders the report from `results.json`.
pub fn rerender() -> Result<(), String> {
    let dir = layout::report_dir(&layout::root());
    let rows = read_results(&dir)?;
    let mut meta = machine::parse(&fs::read_to_string(dir.join("meta.json")).unwrap_or_default());
    write_all(&dir, &rows, &mut meta)
}

fn write_all(dir: &Path, rows: &[Row], meta: &mut Meta) -> Result<(), String> {
    let mut suites: Vec<String> = Vec::new();
    for r in rows {
        if !suites.contains(&r.suite) {
            suites.push(r.suite.clone());
        }
    }
    suites.sort_by_key(|s| {
        report::SUITE_ORDER
            .iter()
            .position(|o| o == s)
            .unwrap_or(usize::MAX)
    });
    machine::set(meta, "suites", suites.join(", "));
    if !rows.iter().any(Row::is_cpython) {
        meta.retain(|(k, _)| k != "python");
    }
    let goals_path = layout::root().join("bench/goals.txt");
    let goal_list = match fs::read_to_string(&goals_path) {
        Ok(text) => goals::parse(&text)?,
        Err(_) => Vec::new(),
    };
    let about = fs::read_to_string(layout::root().join("bench/workloads.txt"))
        .map(|t| report::parse_about(&t))
        .unwrap_or_default();
    let report = Report {
        meta,
        rows,
        goals: &goal_list,
        about: &about,
    };
    let files = [
        ("results.json", results::results_to_json(rows)),
        ("meta.json", machine::to_json(meta)),
        ("report.md", report.markdown()),
        ("report.html", report.html()),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    let outcomes = goals::check(&goal_list, rows);
    let pass = outcomes
        .iter()
        .filter(|o| o.verdict() == Some(true))
        .count();
    let miss = outcomes
        .iter()
        .filter(|o| o.verdict() == Some(false))
        .count();
    for o in outcomes.iter().filter(|o| o.verdict().is_some()) {
        let (verdict, detail) = report::outcome_text(o);
        println!(
            "  {verdict:<4} {:<58} {detail}",
            format!("{}/{} {}", o.goal.suite, o.goal.workload, o.condition())
        );
    }
    println!("goals: {pass} met, {miss} missed");
    println!("report: {}", dir.join("report.html").display());
    println!("        {}", dir.join("report.md").display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selections_parse_and_filter() {
        let s = Selection::parse("heap/rss-after-free");
        assert_eq!(
            (s.suite.as_str(), s.filter.as_deref()),
            ("heap", Some("rss-after-free"))
        );
        assert!(s.wants_workload("rss-after-free-ordered"));
        assert!(!s.wants_workload("churn-live"));
        assert!(s.wants_bin("heap_rss"));
        let c = Selection::parse("heap/churn");
        assert!(!c.wants_bin("heap_rss"));
        let all = Selection::parse("heap");
        assert!(all.wants_bin("heap_rss") && all.wants_workload("x"));
        assert_eq!(Selection::parse("heap/").filter, None);
    }

    #[test]
    fn unknown_suite_lists_the_known_ones() {
        let found = vec![Suite {
            name: "heap".into(),
            criterion: true,
            ..Suite::default()
        }];
        let err = select(&found, &["nope".into()], |s| s.criterion).unwrap_err();
        assert!(err.contains("\"nope\"") && err.contains("heap"), "{err}");
        assert_eq!(select(&found, &[], |s| s.criterion).unwrap().len(), 1);
    }

    #[test]
    fn list_names_every_file() {
        let suites = [Suite {
            name: "heap".into(),
            criterion: true,
            bins: vec!["heap_rss".into()],
            scripts: vec![PathBuf::from("/x/bench/cpython/heap_churn.py")],
        }];
        assert_eq!(
            list(&suites),
            "heap       benches/heap.rs  src/bin/heap_rss.rs  cpython/heap_churn.py\n"
        );
    }

    #[test]
    fn pythonmalloc_marker() {
        assert!(wants_pythonmalloc(
            "#!/usr/bin/env python3\n# coil-bench: pythonmalloc\nimport x\n"
        ));
        assert!(!wants_pythonmalloc("import x\n"));
    }

    #[test]
    fn cpython_rows_keep_their_variant_suffix() {
        assert_eq!(cpython_impl("cpython", "cpython"), "cpython");
        assert_eq!(cpython_impl("cpython", "anything"), "cpython");
        assert_eq!(
            cpython_impl("cpython", "cpython-default-chunks"),
            "cpython-default-chunks"
        );
        assert_eq!(
            cpython_impl("cpython-malloc", "cpython-default-chunks"),
            "cpython-malloc-default-chunks"
        );
        assert_eq!(cpython_impl("cpython-malloc", "cpythonx"), "cpython-malloc");
    }
}
