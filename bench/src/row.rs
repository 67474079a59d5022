//! JSON result rows, the one output format of every harness binary.
//!
//! A row is `{"suite":..,"workload":..,"impl":..,"metric":..,"value":..}`, one
//! per line on standard output; `cargo xtask bench` reads every line that starts
//! with `{` and ignores the rest, so a harness may print progress to stderr.
//! Lower is better unless the metric name ends in `_per_s` or starts with
//! `returned_` (see `bench/README.md`).

use std::fmt;

/// One figure of one implementation on one workload.
///
/// # Examples
///
/// ```
/// use coil_bench::row::Row;
/// let row = Row::new("heap", "rss-after-free", "coil", "rss_after_mib", 12.5);
/// assert_eq!(
///     row.to_string(),
///     r#"{"suite":"heap","workload":"rss-after-free","impl":"coil","metric":"rss_after_mib","value":12.5}"#
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    /// The suite, named after the crate: `heap`, `gc`, ...
    pub suite: &'a str,
    /// The workload, as in BENCHMARKS.md: `churn-live`, `rss-after-free`, ...
    pub workload: &'a str,
    /// The implementation: `coil`, `coil-global`, `glibc`, ...
    pub imp: &'a str,
    /// What the value measures, with its unit: `ns_per_op`, `rss_after_mib`, ...
    pub metric: &'a str,
    /// The figure. Not finite values are printed as `null`.
    pub value: f64,
}

impl<'a> Row<'a> {
    /// A row from its five fields.
    pub fn new(
        suite: &'a str,
        workload: &'a str,
        imp: &'a str,
        metric: &'a str,
        value: f64,
    ) -> Self {
        Row {
            suite,
            workload,
            imp,
            metric,
            value,
        }
    }

    /// Prints the row as one line on standard output.
    pub fn print(&self) {
        println!("{self}");
    }
}

fn write_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Row<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{\"suite\":")?;
        write_str(f, self.suite)?;
        f.write_str(",\"workload\":")?;
        write_str(f, self.workload)?;
        f.write_str(",\"impl\":")?;
        write_str(f, self.imp)?;
        f.write_str(",\"metric\":")?;
        write_str(f, self.metric)?;
        if self.value.is_finite() {
            write!(f, ",\"value\":{}}}", self.value)
        } else {
            f.write_str(",\"value\":null}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Row;

    #[test]
    fn escapes_quotes_and_prints_null_for_nan() {
        let row = Row::new("s\"x", "w", "i", "m", f64::NAN);
        assert_eq!(
            row.to_string(),
            r#"{"suite":"s\"x","workload":"w","impl":"i","metric":"m","value":null}"#
        );
    }
}
