//! The goals of `bench/goals.txt`, and checking them against a run.
//!
//! A goal is one line: `<suite>/<workload-glob>[<metric>] <impl> <op> <reference>
//! # note`, where the reference is a number, an implementation, or `min(..)` /
//! `max(..)` of implementations, optionally scaled by `<k> *` in front or
//! `/ <k>` behind. Example: `heap/alloc-free-*  coil-global  <=  glibc / 1.3`.

use crate::results::Row;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `>=`
    Ge,
    /// `>`
    Gt,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Le => a <= b,
            Op::Lt => a < b,
            Op::Ge => a >= b,
            Op::Gt => a > b,
        }
    }

    fn text(self) -> &'static str {
        match self {
            Op::Le => "≤",
            Op::Lt => "<",
            Op::Ge => "≥",
            Op::Gt => ">",
        }
    }
}

/// What a goal compares against.
#[derive(Debug, Clone, PartialEq)]
pub enum Reference {
    /// A fixed number.
    Number(f64),
    /// The best (`min`) of some implementations.
    Min(Vec<String>),
    /// The largest (`max`) of some implementations.
    Max(Vec<String>),
}

/// One parsed goal line.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    /// The suite: `heap`.
    pub suite: String,
    /// The workload glob: `alloc-free-*`.
    pub workload: String,
    /// The metric, or `None` for the workload's first metric.
    pub metric: Option<String>,
    /// The implementation under test: `coil`.
    pub subject: String,
    /// The comparison.
    pub op: Op,
    /// What it is compared with, before scaling.
    pub reference: Reference,
    /// The reference is multiplied by this.
    pub scale: f64,
    /// The reference expression as written.
    pub expr: String,
    /// The text after `#`.
    pub note: String,
}

/// Parses the text of `goals.txt`.
///
/// # Errors
///
/// A message naming the first bad line and what is wrong with it.
pub fn parse(text: &str) -> Result<Vec<Goal>, String> {
    let mut goals = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let (body, note) = match line.split_once('#') {
            Some((b, c)) => (b.trim(), c.trim()),
            None => (line.trim(), ""),
        };
        if body.is_empty() {
            continue;
        }
        let goal = parse_line(body, note)
            .map_err(|e| format!("goals.txt line {}: {e}: {line:?}", n + 1))?;
        goals.push(goal);
    }
    Ok(goals)
}

fn parse_line(body: &str, note: &str) -> Result<Goal, String> {
    let mut parts = body.splitn(3, char::is_whitespace);
    let target = parts.next().ok_or("empty")?;
    let rest = parts
        .next()
        .ok_or("expected an implementation after the workload")?;
    let rest = format!("{rest} {}", parts.next().unwrap_or(""));
    let mut parts = rest.trim().splitn(2, char::is_whitespace);
    let subject = parts
        .next()
        .ok_or("expected an implementation")?
        .trim()
        .to_string();
    let rest = parts.next().ok_or("expected an operator")?.trim();
    let (op, expr) = [("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
        .iter()
        .find_map(|(t, op)| rest.strip_prefix(t).map(|e| (*op, e.trim())))
        .ok_or("expected <=, >=, < or > after the implementation")?;
    let (target, metric) = match target.split_once('[') {
        Some((t, m)) => (
            t,
            Some(m.strip_suffix(']').ok_or("unclosed [metric]")?.to_string()),
        ),
        None => (target, None),
    };
    let (suite, workload) = target
        .split_once('/')
        .ok_or("expected <suite>/<workload>")?;
    let (reference, scale) = parse_expr(expr)?;
    Ok(Goal {
        suite: suite.into(),
        workload: workload.into(),
        metric,
        subject,
        op,
        reference,
        scale,
        expr: expr.into(),
        note: note.into(),
    })
}

fn parse_expr(expr: &str) -> Result<(Reference, f64), String> {
    let mut scale = 1.0;
    let mut e = expr.trim();
    if let Some((k, rest)) = e.split_once('*') {
        scale *= k
            .trim()
            .parse::<f64>()
            .map_err(|_| format!("bad factor {k:?}"))?;
        e = rest.trim();
    }
    if let Some((rest, k)) = e.rsplit_once('/') {
        let k: f64 = k.trim().parse().map_err(|_| format!("bad divisor {k:?}"))?;
        if k == 0.0 {
            return Err("division by zero".into());
        }
        scale /= k;
        e = rest.trim();
    }
    if e.is_empty() {
        return Err("missing reference".into());
    }
    if let Ok(n) = e.parse::<f64>() {
        return Ok((Reference::Number(n), scale));
    }
    let list = |inner: &str| -> Result<Vec<String>, String> {
        let names: Vec<String> = inner.split(',').map(|s| s.trim().to_string()).collect();
        if names.iter().any(String::is_empty) {
            return Err(format!("empty name in {e:?}"));
        }
        Ok(names)
    };
    if let Some(inner) = e.strip_prefix("min(").and_then(|s| s.strip_suffix(')')) {
        return Ok((Reference::Min(list(inner)?), scale));
    }
    if let Some(inner) = e.strip_prefix("max(").and_then(|s| s.strip_suffix(')')) {
        return Ok((Reference::Max(list(inner)?), scale));
    }
    if e.contains(|c: char| c.is_whitespace() || "(),".contains(c)) {
        return Err(format!("cannot read reference {e:?}"));
    }
    Ok((Reference::Min(vec![e.to_string()]), scale))
}

/// `*` glob match (iterative, no backtracking blow-up for the short names here).
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// A goal checked on one workload.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    /// The workload it was checked on.
    pub workload: String,
    /// The metric it was checked on.
    pub metric: String,
    /// The subject's value, if measured.
    pub value: Option<f64>,
    /// The scaled reference value and which implementation gave it (empty for
    /// a number), if measured.
    pub reference: Option<(f64, String)>,
}

impl Check {
    /// `Some(true)` PASS, `Some(false)` MISS, `None` no data.
    pub fn pass(&self, op: Op) -> Option<bool> {
        Some(op.holds(self.value?, self.reference.as_ref()?.0))
    }
}

/// A goal with its checks, one per matching workload.
#[derive(Debug, Clone)]
pub struct Outcome<'g> {
    /// The goal.
    pub goal: &'g Goal,
    /// One per workload the goal's glob matched in the run (none: no data).
    pub checks: Vec<Check>,
}

impl Outcome<'_> {
    /// PASS when every check passes, MISS when one misses, else no data.
    pub fn verdict(&self) -> Option<bool> {
        let mut all = Some(true);
        for c in &self.checks {
            match c.pass(self.goal.op) {
                Some(false) => return Some(false),
                None => all = None,
                Some(true) => {}
            }
        }
        if self.checks.is_empty() { None } else { all }
    }

    /// The goal as a sentence: `coil ≤ 0.50 × glibc`.
    pub fn condition(&self) -> String {
        format!(
            "{} {} {}",
            self.goal.subject,
            self.goal.op.text(),
            self.goal.expr
        )
    }
}

/// Checks every goal against `rows`.
pub fn check<'g>(goals: &'g [Goal], rows: &[Row]) -> Vec<Outcome<'g>> {
    goals
        .iter()
        .map(|g| Outcome {
            goal: g,
            checks: check_one(g, rows),
        })
        .collect()
}

fn check_one(goal: &Goal, rows: &[Row]) -> Vec<Check> {
    let mut workloads: Vec<&str> = Vec::new();
    for r in rows {
        // Only workloads the subject ran: CPython-only rows are no coil measurement.
        let wanted =
            r.suite == goal.suite && r.imp == goal.subject && glob(&goal.workload, &r.workload);
        if wanted && !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    workloads
        .into_iter()
        .map(|w| {
            let in_w: Vec<&Row> = rows
                .iter()
                .filter(|r| r.suite == goal.suite && r.workload == w)
                .collect();
            let metric = goal
                .metric
                .clone()
                .unwrap_or_else(|| in_w[0].metric.clone());
            let value_of = |imp: &str| {
                in_w.iter()
                    .find(|r| r.imp == imp && r.metric == metric)
                    .map(|r| r.value)
                    .filter(|v| v.is_finite())
            };
            let pick = |names: &[String], better: fn(f64, f64) -> bool| {
                names
                    .iter()
                    .filter_map(|n| value_of(n).map(|v| (v, n.clone())))
                    .reduce(|a, b| if better(b.0, a.0) { b } else { a })
            };
            let reference = match &goal.reference {
                Reference::Number(n) => Some((*n, String::new())),
                Reference::Min(names) => pick(names, |a, b| a < b),
                Reference::Max(names) => pick(names, |a, b| a > b),
            }
            .map(|(v, who)| (v * goal.scale, who));
            let value = value_of(&goal.subject);
            Check {
                workload: w.to_string(),
                metric,
                value,
                reference,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOALS: &str = "\
# comment
heap/alloc-free-*   coil  <=  min(glibc, mimalloc)   # fastest
heap/alloc-free-*   coil  <=  glibc / 2              # 2x glibc
heap/rss[returned_pct]  coil  >= 80
heap/churn   coil-global  <=  1.1 * min(jemalloc)
";

    #[test]
    fn parses_every_form() {
        let goals = parse(GOALS).unwrap();
        assert_eq!(goals.len(), 4);
        assert_eq!(
            goals[0].reference,
            Reference::Min(vec!["glibc".into(), "mimalloc".into()])
        );
        assert_eq!(goals[0].note, "fastest");
        assert_eq!((goals[1].scale, goals[1].op), (0.5, Op::Le));
        assert_eq!(goals[2].metric.as_deref(), Some("returned_pct"));
        assert_eq!(goals[2].reference, Reference::Number(80.0));
        assert_eq!(goals[3].scale, 1.1);
        assert_eq!(goals[3].subject, "coil-global");
    }

    #[test]
    fn bad_lines_name_the_line() {
        for bad in [
            "heap coil <= glibc",
            "heap/x coil == glibc",
            "heap/x coil <= glibc / 0",
            "heap/x coil <= min(a,)",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("line 1"), "{bad}: {e}");
        }
    }

    #[test]
    fn glob_matches_stars() {
        assert!(glob("alloc-free-*", "alloc-free-16"));
        assert!(glob("*", "x"));
        assert!(glob("a*c*e", "abcde"));
        assert!(!glob("alloc-free-*", "churn-live"));
        assert!(!glob("a*c", "abcd"));
    }

    #[test]
    fn checks_pass_miss_and_no_data() {
        let rows = vec![
            Row::new("heap", "alloc-free-16", "coil", "ns_per_op", 4.0),
            Row::new("heap", "alloc-free-16", "glibc", "ns_per_op", 10.0),
            Row::new("heap", "alloc-free-16", "mimalloc", "ns_per_op", 5.0),
            Row::new("heap", "alloc-free-32", "coil", "ns_per_op", 6.0),
            Row::new("heap", "alloc-free-32", "glibc", "ns_per_op", 11.0),
            Row::new("heap", "alloc-free-32", "mimalloc", "ns_per_op", 5.5),
            Row::new("heap", "alloc-free-64", "cpython", "ns_per_op", 300.0),
            Row::new("heap", "rss", "coil", "bytes", 1.0),
            Row::new("heap", "rss", "coil", "returned_pct", 91.0),
        ];
        let goals = parse(GOALS).unwrap();
        let out = check(&goals, &rows);
        // fastest: 16 passes (4 <= 5), 32 misses (6 > 5.5); 64 has no coil row.
        assert_eq!(out[0].checks.len(), 2);
        assert_eq!(out[0].checks[1].reference, Some((5.5, "mimalloc".into())));
        assert_eq!(out[0].verdict(), Some(false));
        // 2x glibc: 4 <= 5 and 6 > 5.5: miss.
        assert_eq!(out[1].checks[0].pass(Op::Le), Some(true));
        assert_eq!(out[1].verdict(), Some(false));
        // a named metric and a number
        assert_eq!(out[2].verdict(), Some(true));
        // no churn rows at all
        assert_eq!(out[3].verdict(), None);
        assert_eq!(out[3].condition(), "coil-global ≤ 1.1 * min(jemalloc)");
    }
}
