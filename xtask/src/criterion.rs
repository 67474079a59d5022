//! Reading criterion's output: the `estimates.json` / `benchmark.json` pair it
//! writes per function under `<criterion home>/<group>/<function>/new/`, and
//! the `time:` lines it prints, for the progress display.

use std::{
    fs,
    path::{Path, PathBuf},
    time::SystemTime,
};

use crate::{json::Json, results::Row};

/// One criterion function's result, before it becomes a [`Row`].
#[derive(Debug, Clone, PartialEq)]
pub struct Estimate {
    /// `heap/churn-live`
    pub group: String,
    /// `coil`
    pub function: String,
    /// Time per iteration in ns: the slope estimate when criterion made one
    /// (linear sampling, the one it prints as `time:`), else the mean.
    pub ns: f64,
    /// `Throughput::Elements(n)` of the group, if set.
    pub elements: Option<f64>,
    /// `Throughput::Bytes(n)` (or `BytesDecimal`) of the group, if set.
    pub bytes: Option<f64>,
}

impl Estimate {
    /// Reads one function's result from its `benchmark.json` and
    /// `estimates.json` texts.
    ///
    /// # Errors
    ///
    /// A message when either text is not what criterion writes.
    pub fn parse(benchmark: &str, estimates: &str) -> Result<Estimate, String> {
        let b = Json::parse(benchmark)?;
        let e = Json::parse(estimates)?;
        let group = b
            .get("group_id")
            .and_then(Json::as_str)
            .ok_or("benchmark.json without group_id")?;
        let function = match b.get("function_id") {
            Some(Json::Str(f)) => f.clone(),
            _ => String::new(),
        };
        let function = match b.get("value_str").and_then(Json::as_str) {
            Some(v) if function.is_empty() => v.to_string(),
            Some(v) => format!("{function}/{v}"),
            None => function,
        };
        let point = |k: &str| {
            e.get(k)
                .and_then(|x| x.get("point_estimate"))
                .and_then(Json::as_f64)
        };
        let ns = point("slope")
            .or_else(|| point("mean"))
            .ok_or("estimates.json without a mean")?;
        let tp = b.get("throughput");
        let tp_of = |k: &str| tp.and_then(|t| t.get(k)).and_then(Json::as_f64);
        Ok(Estimate {
            group: group.to_string(),
            function,
            ns,
            elements: tp_of("Elements"),
            bytes: tp_of("Bytes").or_else(|| tp_of("BytesDecimal")),
        })
    }

    /// The report rows: `ns_per_op` (per element when the group set
    /// `Throughput::Elements`), plus `gb_per_s` when it set `Throughput::Bytes`.
    /// `None` when the group is not named `<suite>/<workload>`.
    pub fn rows(&self) -> Option<Vec<Row>> {
        let (suite, workload) = self.group.split_once('/')?;
        let per_op = self.ns / self.elements.unwrap_or(1.0).max(1.0);
        let mut rows = vec![Row::new(
            suite,
            workload,
            &self.function,
            "ns_per_op",
            per_op,
        )];
        if let Some(b) = self.bytes {
            rows.push(Row::new(
                suite,
                workload,
                &self.function,
                "gb_per_s",
                b / self.ns,
            ));
        }
        Some(rows)
    }
}

/// Every `<dir>/**/new/benchmark.json` under `home` written at or after `since`,
/// parsed. Unreadable entries are skipped with a note in the returned list of
/// problems.
pub fn collect(home: &Path, since: SystemTime) -> (Vec<Estimate>, Vec<String>) {
    let mut found = Vec::new();
    let mut problems = Vec::new();
    let mut work: Vec<PathBuf> = vec![home.to_path_buf()];
    while let Some(dir) = work.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            if path.file_name().is_some_and(|n| n == "new") {
                let bench = path.join("benchmark.json");
                let est = path.join("estimates.json");
                let fresh = fs::metadata(&est)
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t >= since);
                if !fresh {
                    continue;
                }
                match (fs::read_to_string(&bench), fs::read_to_string(&est)) {
                    (Ok(b), Ok(e)) => match Estimate::parse(&b, &e) {
                        Ok(x) => found.push(x),
                        Err(err) => problems.push(format!("{}: {err}", path.display())),
                    },
                    _ => problems.push(format!(
                        "{}: missing benchmark.json or estimates.json",
                        path.display()
                    )),
                }
            } else if path
                .file_name()
                .is_none_or(|n| n != "base" && n != "change" && n != "report")
            {
                work.push(path);
            }
        }
    }
    found.sort_by(|a, b| (&a.group, &a.function).cmp(&(&b.group, &b.function)));
    (found, problems)
}

/// Follows criterion's stdout and picks out finished functions: the id and
/// the middle `time:` estimate (`"5.1 ns"`). Criterion prints the id and the
/// `time:` on one line, or, for long ids, the id alone on the line before.
#[derive(Debug, Default)]
pub struct Progress {
    last_id: Option<String>,
}

impl Progress {
    /// Feeds one line; returns `(id, time)` when the line finishes a function.
    pub fn line(&mut self, line: &str) -> Option<(String, String)> {
        let trimmed = line.trim();
        if let Some(pos) = trimmed.find("time:") {
            let head = trimmed[..pos].trim();
            let id = if head.is_empty() {
                self.last_id.take()?
            } else {
                head.to_string()
            };
            let inner = trimmed[pos + 5..]
                .trim()
                .trim_start_matches('[')
                .trim_end_matches(']');
            let parts: Vec<&str> = inner.split_whitespace().collect();
            let time = if parts.len() >= 4 {
                format!("{} {}", parts[2], parts[3])
            } else {
                inner.to_string()
            };
            return Some((id, time));
        }
        let looks_like_id = !trimmed.is_empty()
            && !line.starts_with(' ')
            && trimmed.contains('/')
            && !trimmed.contains(' ');
        if looks_like_id {
            self.last_id = Some(trimmed.to_string());
        } else if !trimmed.is_empty() && !line.starts_with(' ') {
            self.last_id = None;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BENCH: &str = r#"{"group_id":"heap/churn-live","function_id":"coil","value_str":null,
        "throughput":null,"full_id":"heap/churn-live/coil","directory_name":"heap_churn-live/coil","title":"heap/churn-live/coil"}"#;
    const EST: &str = r#"{"mean":{"point_estimate":120.0},"median":{"point_estimate":119.0},"slope":{"point_estimate":118.5}}"#;

    #[test]
    fn estimate_prefers_slope_and_makes_ns_rows() {
        let e = Estimate::parse(BENCH, EST).unwrap();
        assert_eq!(
            (e.group.as_str(), e.function.as_str(), e.ns),
            ("heap/churn-live", "coil", 118.5)
        );
        let rows = e.rows().unwrap();
        assert_eq!(
            rows,
            vec![Row::new("heap", "churn-live", "coil", "ns_per_op", 118.5)]
        );
        let no_slope = r#"{"mean":{"point_estimate":120.0},"slope":null}"#;
        assert_eq!(Estimate::parse(BENCH, no_slope).unwrap().ns, 120.0);
    }

    #[test]
    fn throughput_divides_per_element_and_adds_bandwidth() {
        let bench = BENCH.replace("\"throughput\":null", "\"throughput\":{\"Elements\":1000}");
        let e = Estimate::parse(&bench, EST).unwrap();
        assert_eq!(e.rows().unwrap()[0].value, 0.1185);
        let bench = BENCH.replace("\"throughput\":null", "\"throughput\":{\"Bytes\":2370}");
        let rows = Estimate::parse(&bench, EST).unwrap().rows().unwrap();
        assert_eq!(rows[1].metric, "gb_per_s");
        assert_eq!(rows[1].value, 20.0);
    }

    #[test]
    fn group_without_suite_prefix_gives_no_rows() {
        let bench = BENCH.replace("heap/churn-live\",\"function", "churn\",\"function");
        assert_eq!(Estimate::parse(&bench, EST).unwrap().rows(), None);
    }

    #[test]
    fn progress_reads_both_line_shapes() {
        let mut p = Progress::default();
        assert_eq!(
            p.line("heap/alloc-free-16/coil  time:   [4.9 ns 5.0 ns 5.1 ns]"),
            Some(("heap/alloc-free-16/coil".into(), "5.0 ns".into()))
        );
        assert_eq!(p.line("heap/churn-threads/coil-global"), None);
        assert_eq!(
            p.line("                        time:   [101.2 ns 103.0 ns 104.9 ns]"),
            Some(("heap/churn-threads/coil-global".into(), "103.0 ns".into()))
        );
        assert_eq!(
            p.line("Found 3 outliers among 100 measurements (3.00%)"),
            None
        );
        assert_eq!(
            p.line("                        time:   [1 ns 2 ns 3 ns]"),
            None
        );
    }

    #[test]
    fn collect_reads_fresh_results_only() {
        let dir = std::env::temp_dir().join(format!("xtask-criterion-{}", std::process::id()));
        let new = dir.join("heap_churn-live/coil/new");
        fs::create_dir_all(&new).unwrap();
        fs::write(new.join("benchmark.json"), BENCH).unwrap();
        fs::write(new.join("estimates.json"), EST).unwrap();
        let (found, problems) = collect(&dir, SystemTime::UNIX_EPOCH);
        assert_eq!(found.len(), 1, "{problems:?}");
        let later = SystemTime::now() + std::time::Duration::from_secs(3600);
        assert!(collect(&dir, later).0.is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }
}
