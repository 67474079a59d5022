//! Result rows (`results.json`) and what the report knows about metrics.
//!
//! A row is `{"suite","workload","impl","metric","value"}`; `results.json` is a
//! list of them. Each run replaces the rows it measured and keeps the others,
//! so `cargo xtask bench gc` leaves the heap figures in place and
//! `cargo xtask cpython` adds its columns beside the Rust ones.

use crate::json::{self, Json};

/// One figure of one implementation on one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `heap`, `gc`, ...
    pub suite: String,
    /// `churn-live`, ...
    pub workload: String,
    /// `coil`, `glibc`, `cpython`, ...
    pub imp: String,
    /// `ns_per_op`, `rss_after_mib`, ...
    pub metric: String,
    /// The figure; NaN when a harness reported `null`.
    pub value: f64,
}

impl Row {
    /// A row from its fields.
    pub fn new(suite: &str, workload: &str, imp: &str, metric: &str, value: f64) -> Row {
        Row {
            suite: suite.into(),
            workload: workload.into(),
            imp: imp.into(),
            metric: metric.into(),
            value,
        }
    }

    /// The row in a JSON object, or why not.
    pub fn from_json(v: &Json) -> Result<Row, String> {
        let field = |k: &str| {
            v.get(k)
                .and_then(Json::as_str)
                .ok_or_else(|| format!("row without a string {k:?}: {v:?}"))
        };
        let (suite, workload, imp, metric) = (
            field("suite")?,
            field("workload")?,
            field("impl")?,
            field("metric")?,
        );
        let value = match v.get("value") {
            Some(Json::Num(n)) => *n,
            Some(Json::Null) => f64::NAN,
            _ => return Err(format!("row without a numeric \"value\": {v:?}")),
        };
        Ok(Row::new(suite, workload, imp, metric, value))
    }

    /// The row as one JSON object.
    pub fn to_json(&self) -> String {
        let mut out = String::from("{\"suite\":");
        json::write_str(&mut out, &self.suite);
        out.push_str(",\"workload\":");
        json::write_str(&mut out, &self.workload);
        out.push_str(",\"impl\":");
        json::write_str(&mut out, &self.imp);
        out.push_str(",\"metric\":");
        json::write_str(&mut out, &self.metric);
        out.push_str(",\"value\":");
        json::write_num(&mut out, self.value);
        out.push('}');
        out
    }

    /// True for rows of the CPython side-by-side (`cargo xtask cpython`).
    pub fn is_cpython(&self) -> bool {
        self.imp.starts_with("cpython")
    }
}

/// Reads `results.json` (a JSON list of rows).
///
/// # Errors
///
/// A message when the text is not a JSON list of well-formed rows.
pub fn parse_results(text: &str) -> Result<Vec<Row>, String> {
    let v = Json::parse(text)?;
    let items = v.as_array().ok_or("results.json is not a JSON list")?;
    items.iter().map(Row::from_json).collect()
}

/// Writes rows as a JSON list, one row per line.
pub fn results_to_json(rows: &[Row]) -> String {
    let mut out = String::from("[\n");
    for (i, row) in rows.iter().enumerate() {
        out.push_str("  ");
        out.push_str(&row.to_json());
        out.push_str(if i + 1 < rows.len() { ",\n" } else { "\n" });
    }
    out.push_str("]\n");
    out
}

/// The rows in a harness's output: every line starting with `{` must be a row;
/// other lines are ignored.
///
/// # Errors
///
/// A message naming the first line that starts with `{` but is not a row.
pub fn parse_lines(text: &str) -> Result<Vec<Row>, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            Json::parse(l)
                .and_then(|v| Row::from_json(&v))
                .map_err(|e| format!("{e} in line {l:?}"))
        })
        .collect()
}

/// `old` without the rows `replaced` selects, followed by `new`.
pub fn merge(old: Vec<Row>, new: Vec<Row>, replaced: impl Fn(&Row) -> bool) -> Vec<Row> {
    let mut rows: Vec<Row> = old.into_iter().filter(|r| !replaced(r)).collect();
    rows.extend(new);
    rows
}

/// True when a larger value of `metric` is better: names ending in `_per_s`
/// (throughput) or starting with `returned_` (memory given back).
pub fn higher_is_better(metric: &str) -> bool {
    metric.ends_with("_per_s") || metric.starts_with("returned_")
}

/// `metric` for people: `ns_per_op` → `ns / op`, `rss_after_mib` → `RSS after (MiB)`.
pub fn metric_label(metric: &str) -> String {
    let known = [
        ("ns_per_op", "ns / op"),
        ("bytes_per_object", "bytes / object"),
        (
            "bytes_per_live_after_free",
            "bytes / live object after free",
        ),
        (
            "bytes_per_live_after_trim",
            "bytes / live object after trim",
        ),
        ("rss_full_mib", "RSS, all live (MiB)"),
        ("rss_after_mib", "RSS after free (MiB)"),
        ("returned_pct", "returned to OS (%)"),
        ("returned_pct_after_trim", "returned after trim (%)"),
    ];
    if let Some((_, label)) = known.iter().find(|(m, _)| *m == metric) {
        return (*label).to_string();
    }
    let mut words: Vec<&str> = metric.split('_').collect();
    // A trailing unit becomes "(unit)" unless it follows `per`; `_per_` becomes " / ".
    let after_per = words.len() >= 2 && words[words.len() - 2] == "per";
    let unit = match words.last().copied() {
        _ if after_per => None,
        Some("mib") => Some("MiB"),
        Some("kib") => Some("KiB"),
        Some("gib") => Some("GiB"),
        Some("pct") => Some("%"),
        Some(u @ ("us" | "ms" | "ns" | "s")) if words.len() > 1 => Some(u),
        _ => None,
    };
    if unit.is_some() {
        words.pop();
    }
    let text = words.join(" ").replace(" per ", " / ");
    match unit {
        Some(u) => format!("{text} ({u})"),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_results_json() {
        let rows = vec![
            Row::new("heap", "churn-live", "coil", "ns_per_op", 12.5),
            Row::new("heap", "rss-after-free", "glibc", "rss_after_mib", f64::NAN),
        ];
        let back = parse_results(&results_to_json(&rows)).unwrap();
        assert_eq!(back[0], rows[0]);
        assert!(back[1].value.is_nan());
        assert_eq!(back[1].imp, "glibc");
    }

    #[test]
    fn parse_lines_skips_chatter_and_reports_bad_rows() {
        let out = "warming up\n{\"suite\":\"heap\",\"workload\":\"w\",\"impl\":\"coil\",\"metric\":\"m\",\"value\":1}\n";
        assert_eq!(parse_lines(out).unwrap().len(), 1);
        let err = parse_lines("{\"suite\":\"heap\"}").unwrap_err();
        assert!(err.contains("workload"), "{err}");
        assert!(parse_results("{}").unwrap_err().contains("not a JSON list"));
    }

    #[test]
    fn merge_replaces_only_selected_rows() {
        let old = vec![
            Row::new("heap", "a", "coil", "ns_per_op", 1.0),
            Row::new("gc", "b", "coil", "ns_per_op", 2.0),
            Row::new("heap", "a", "cpython", "ns_per_op", 3.0),
        ];
        let new = vec![Row::new("heap", "a", "coil", "ns_per_op", 9.0)];
        let rows = merge(old, new, |r| r.suite == "heap" && !r.is_cpython());
        let values: Vec<f64> = rows.iter().map(|r| r.value).collect();
        assert_eq!(values, [2.0, 3.0, 9.0]);
    }

    #[test]
    fn metric_direction_and_labels() {
        assert!(!higher_is_better("ns_per_op"));
        assert!(higher_is_better("msgs_per_s"));
        assert!(higher_is_better("returned_pct_after_trim"));
        assert_eq!(metric_label("ns_per_op"), "ns / op");
        assert_eq!(metric_label("wait_p99_us"), "wait p99 (us)");
        assert_eq!(metric_label("msgs_per_s"), "msgs / s");
        assert_eq!(metric_label("shared_mib"), "shared (MiB)");
    }
}
