//! The report: `results.json` rows grouped into one table per workload, with
//! each implementation's value, its ratio to coil and the best one marked;
//! the goals of `bench/goals.txt` checked; rendered as Markdown and as one
//! self-contained HTML page with an SVG bar chart per workload.

use std::{cmp::Ordering, collections::HashMap, fmt::Write as _};

use crate::{
    goals::{self, Goal, Op, Outcome},
    machine::{self, Meta},
    results::{Row, higher_is_better, metric_label},
    svg::{self, Bar},
};

/// Suites in the order of DESIGN.md; others follow alphabetically.
pub const SUITE_ORDER: [&str; 6] = ["heap", "refcount", "gc", "threads", "shm", "procs"];

/// One workload's figures.
#[derive(Debug, Clone)]
pub struct Table {
    /// `heap`
    pub suite: String,
    /// `churn-live`
    pub workload: String,
    /// Metrics in the order the rows gave them; the first is the primary one
    /// (charted, and ratios are taken on it).
    pub metrics: Vec<String>,
    /// Implementations: `coil`, `coil-*`, peers, `cpython*`.
    pub impls: Vec<String>,
    values: HashMap<(String, String), f64>,
}

impl Table {
    /// The value of `imp` on `metric`, if measured (and finite).
    pub fn value(&self, imp: &str, metric: &str) -> Option<f64> {
        self.values
            .get(&(imp.to_string(), metric.to_string()))
            .copied()
            .filter(|v| v.is_finite())
    }

    /// The implementation ratios are taken against: `coil`, else the first
    /// `coil-*`.
    pub fn baseline(&self) -> Option<&str> {
        self.impls
            .iter()
            .find(|i| i.as_str() == "coil" || i.starts_with("coil-"))
            .map(String::as_str)
    }

    /// `imp`'s value divided by the baseline's, on `metric`.
    pub fn ratio(&self, imp: &str, metric: &str) -> Option<f64> {
        let base = self.value(self.baseline()?, metric)?;
        let v = self.value(imp, metric)?;
        (base != 0.0).then(|| v / base)
    }

    /// Implementations with a value on `metric`, best first.
    pub fn ranking(&self, metric: &str) -> Vec<(&str, f64)> {
        let mut ranked: Vec<(&str, f64)> = self
            .impls
            .iter()
            .filter_map(|i| self.value(i, metric).map(|v| (i.as_str(), v)))
            .collect();
        let up = higher_is_better(metric);
        ranked.sort_by(|a, b| {
            let o = a.1.partial_cmp(&b.1).unwrap_or(Ordering::Equal);
            if up { o.reverse() } else { o }
        });
        ranked
    }

    /// The best implementation on `metric`.
    pub fn best(&self, metric: &str) -> Option<&str> {
        self.ranking(metric).first().map(|(i, _)| *i)
    }

    /// One sentence on where the baseline stands on the primary metric.
    pub fn verdict(&self) -> String {
        let Some(metric) = self.metrics.first() else {
            return String::new();
        };
        let ranked = self.ranking(metric);
        let word = if is_time(metric) {
            ("faster", "slower")
        } else {
            ("better", "worse")
        };
        let factor = |a: f64, b: f64| {
            if higher_is_better(metric) {
                a / b
            } else {
                b / a
            }
        };
        let Some(base) = self.baseline() else {
            return match ranked.first() {
                Some((w, _)) => format!("{w} is best."),
                None => String::new(),
            };
        };
        let Some(pos) = ranked.iter().position(|(i, _)| *i == base) else {
            return format!("{base} has no figure here.");
        };
        let (_, bv) = ranked[pos];
        if pos == 0 {
            // Against the next implementation that is not coil's own.
            let next = ranked.iter().skip(1).find(|(i, _)| !i.starts_with("coil"));
            return match next {
                Some((next, nv)) if factor(bv, *nv).is_finite() => format!(
                    "{base} is best: {:.2}× {} than the best peer, {next}.",
                    factor(bv, *nv),
                    word.0
                ),
                Some((next, _)) => format!("{base} is best; the best peer, {next}, has 0."),
                None => format!("{base} is the only implementation measured."),
            };
        }
        let (w, wv) = ranked[0];
        if factor(wv, bv) < 1.01 {
            let (place, n) = (ordinal(pos + 1), ranked.len());
            return format!("{w} is best; {base} is within 1% of it ({place} of {n}).");
        }
        format!(
            "{w} is best; {base} is {} of {}, {:.2}× {} than {w}.",
            ordinal(pos + 1),
            ranked.len(),
            factor(wv, bv),
            word.1
        )
    }
}

/// One line of the "at a glance" table: the baseline against the best peer
/// and against CPython, on the primary metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Glance {
    /// The baseline implementation and its value.
    pub base: (String, f64),
    /// The best peer (not coil, not CPython) and its value.
    pub peer: Option<(String, f64)>,
    /// The best CPython variant and its value.
    pub cpython: Option<(String, f64)>,
}

impl Glance {
    /// The text of its "best peer", "coil vs best peer" and "coil vs
    /// CPython" cells (`—` where there is none), for table `t`.
    pub fn cells(&self, t: &Table) -> (String, String, String) {
        let none = || "—".to_string();
        let peer = self
            .peer
            .as_ref()
            .map_or_else(none, |(n, v)| format!("{n} {}", fmt_value(*v)));
        let vs = |o: &Option<(String, f64)>| {
            o.as_ref()
                .map_or_else(none, |(_, v)| t.compare(self.base.1, *v))
        };
        (peer, vs(&self.peer), vs(&self.cpython))
    }
}

impl Table {
    /// The baseline against the best peer and the best CPython variant.
    pub fn glance(&self) -> Option<Glance> {
        let metric = self.metrics.first()?;
        let base = self.baseline()?;
        let bv = self.value(base, metric)?;
        let ranked = self.ranking(metric);
        let first = |keep: fn(&str) -> bool| {
            ranked
                .iter()
                .find(|(i, _)| keep(i))
                .map(|(i, v)| (i.to_string(), *v))
        };
        Some(Glance {
            base: (base.to_string(), bv),
            peer: first(|i| !i.starts_with("coil") && !i.starts_with("cpython")),
            cpython: first(|i| i.starts_with("cpython")),
        })
    }

    /// The baseline's value against `other`'s in words: `1.30× faster`,
    /// `1.25× slower`, `even` (within 1 %).
    pub fn compare(&self, base: f64, other: f64) -> String {
        let Some(metric) = self.metrics.first() else {
            return String::new();
        };
        let (good, bad) = if is_time(metric) {
            ("faster", "slower")
        } else {
            ("better", "worse")
        };
        let f = if higher_is_better(metric) {
            base / other
        } else {
            other / base
        };
        if other == 0.0 && base != 0.0 {
            format!(
                "{} (peer: 0)",
                if higher_is_better(metric) { good } else { bad }
            )
        } else if !f.is_finite() || f == 0.0 {
            "—".into()
        } else if (0.99..=1.01).contains(&f) {
            "even".into()
        } else if f > 1.0 {
            format!("{} {good}", fmt_ratio(Some(f)))
        } else {
            format!("{} {bad}", fmt_ratio(Some(1.0 / f)))
        }
    }
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

fn is_time(metric: &str) -> bool {
    metric.starts_with("ns_")
        || metric.starts_with("us_")
        || metric.starts_with("ms_")
        || ["_ns", "_us", "_ms", "_s"]
            .iter()
            .any(|u| metric.ends_with(u) && !metric.ends_with("_per_s"))
}

/// Compares names with digit runs as numbers: `alloc-free-16` < `alloc-free-128`.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let chunks = |s: &str| -> Vec<(bool, String)> {
        let mut out: Vec<(bool, String)> = Vec::new();
        for c in s.chars() {
            let d = c.is_ascii_digit();
            match out.last_mut() {
                Some((ld, text)) if *ld == d => text.push(c),
                _ => out.push((d, c.to_string())),
            }
        }
        out
    };
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(&cb) {
        let o = match (x.0, y.0) {
            (true, true) => {
                let (nx, ny) = (x.1.trim_start_matches('0'), y.1.trim_start_matches('0'));
                nx.len().cmp(&ny.len()).then_with(|| nx.cmp(ny))
            }
            _ => x.1.cmp(&y.1),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    ca.len().cmp(&cb.len())
}

fn suite_rank(suite: &str) -> (usize, String) {
    let pos = SUITE_ORDER
        .iter()
        .position(|s| *s == suite)
        .unwrap_or(SUITE_ORDER.len());
    (pos, suite.to_string())
}

fn impl_rank(imp: &str) -> usize {
    match imp {
        "coil" => 0,
        i if i.starts_with("coil-") => 1,
        i if i.starts_with("cpython") => 3,
        _ => 2,
    }
}

/// Groups rows into tables: suites in [`SUITE_ORDER`], workloads in natural
/// order, implementations coil first and CPython last.
pub fn tables(rows: &[Row]) -> Vec<Table> {
    let mut tables: Vec<Table> = Vec::new();
    // The Rust rows first, so their metric order (the first is the primary)
    // wins over the order a CPython script printed.
    let ordered = rows
        .iter()
        .filter(|r| !r.is_cpython())
        .chain(rows.iter().filter(|r| r.is_cpython()));
    for r in ordered {
        let t = match tables
            .iter_mut()
            .position(|t| t.suite == r.suite && t.workload == r.workload)
        {
            Some(i) => &mut tables[i],
            None => {
                tables.push(Table {
                    suite: r.suite.clone(),
                    workload: r.workload.clone(),
                    metrics: Vec::new(),
                    impls: Vec::new(),
                    values: HashMap::new(),
                });
                tables.last_mut().expect("just pushed")
            }
        };
        if !t.metrics.contains(&r.metric) {
            t.metrics.push(r.metric.clone());
        }
        if !t.impls.contains(&r.imp) {
            t.impls.push(r.imp.clone());
        }
        t.values.insert((r.imp.clone(), r.metric.clone()), r.value);
    }
    for t in &mut tables {
        // Stable: peers keep the order the rows gave them.
        // coil, its variants, the peers alphabetically, CPython.
        t.impls
            .sort_by(|a, b| impl_rank(a).cmp(&impl_rank(b)).then_with(|| a.cmp(b)));
    }
    tables.sort_by(|a, b| {
        suite_rank(&a.suite)
            .cmp(&suite_rank(&b.suite))
            .then_with(|| natural_cmp(&a.workload, &b.workload))
    });
    tables
}

/// A value for people: 3 significant figures, thousands separated, `—` for none.
pub fn fmt_value(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    let text = if a != 0.0 && a < 0.01 {
        format!("{v:.2e}")
    } else {
        // Three significant digits; a value that rounds up into the next
        // decade (99.96 gives "100.0") loses a decimal.
        let mut d: usize = if a >= 100.0 {
            0
        } else if a >= 10.0 {
            1
        } else {
            2
        };
        let mut t = format!("{v:.d$}");
        let shown = t.trim_start_matches('-').parse::<f64>().unwrap_or(0.0);
        if d > 0 && shown >= 10f64.powi(3 - d as i32) {
            d -= 1;
            t = format!("{v:.d$}");
        }
        t
    };
    if a < 10_000.0 {
        return text;
    }
    let (neg, digits) = text
        .strip_prefix('-')
        .map_or((false, text.as_str()), |d| (true, d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if neg { format!("-{out}") } else { out }
}

fn fmt_ratio(r: Option<f64>) -> String {
    match r {
        Some(r) if r.is_finite() && r.abs() >= 100.0 => format!("{r:.0}×"),
        Some(r) if r.is_finite() && r.abs() >= 10.0 => format!("{r:.1}×"),
        Some(r) if r.is_finite() => format!("{r:.2}×"),
        _ => "—".into(),
    }
}

/// HTML-escapes `s`.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn direction(metric: &str) -> &'static str {
    if higher_is_better(metric) {
        "higher is better"
    } else {
        "lower is better"
    }
}

/// One goal's result in words: the verdict and the measured detail.
pub fn outcome_text(o: &Outcome<'_>) -> (&'static str, String) {
    let verdict = match o.verdict() {
        Some(true) => "PASS",
        Some(false) => "MISS",
        None => "no data",
    };
    let show = |c: &goals::Check| {
        let v = c.value.map_or("—".to_string(), fmt_value);
        let r = match &c.reference {
            Some((r, who)) if who.is_empty() => fmt_value(*r),
            Some((r, who)) if o.goal.scale == 1.0 => format!("{} ({who})", fmt_value(*r)),
            Some((r, who)) => format!(
                "{} ({who} {} × {})",
                fmt_value(*r),
                fmt_value(r / o.goal.scale),
                fmt_value(o.goal.scale)
            ),
            None => "—".into(),
        };
        format!("{} {v} vs {r}", o.goal.subject)
    };
    let detail = match o.checks.as_slice() {
        [] => "not measured in this run".to_string(),
        [c] => show(c),
        checks => {
            let passed = checks
                .iter()
                .filter(|c| c.pass(o.goal.op) == Some(true))
                .count();
            // The worst check: the largest value / reference for <=, smallest for >=.
            let margin = |c: &goals::Check| match (c.value, &c.reference) {
                (Some(v), Some((r, _))) if *r != 0.0 => v / r,
                _ => f64::NAN,
            };
            let up = matches!(o.goal.op, Op::Ge | Op::Gt);
            let worst = checks
                .iter()
                .filter(|c| margin(c).is_finite())
                .max_by(|a, b| {
                    let o = margin(a).partial_cmp(&margin(b)).unwrap_or(Ordering::Equal);
                    if up { o.reverse() } else { o }
                });
            match worst {
                Some(w) => format!(
                    "{passed} of {} pass; worst {}: {}",
                    checks.len(),
                    w.workload,
                    show(w)
                ),
                None => format!("{passed} of {} pass", checks.len()),
            }
        }
    };
    (verdict, detail)
}

/// Everything a report shows.
pub struct Report<'a> {
    /// Machine and run facts.
    pub meta: &'a Meta,
    /// The figures.
    pub rows: &'a [Row],
    /// The goals of `bench/goals.txt`.
    pub goals: &'a [Goal],
    /// One-line workload definitions of `bench/workloads.txt`:
    /// (`suite/workload`, text).
    pub about: &'a [(String, String)],
}

/// Reads `bench/workloads.txt`: `<suite>/<workload>  <one-line definition>`
/// per line, `#` comments.
pub fn parse_about(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(char::is_whitespace))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

const META_KEYS: [(&str, &str); 8] = [
    ("date", "date"),
    ("profile", "profile"),
    ("cpu", "CPU"),
    ("cores", "cores"),
    ("kernel", "kernel"),
    ("rustc", "rustc"),
    ("python", "python"),
    ("suites", "suites"),
];

impl Report<'_> {
    fn about(&self, t: &Table) -> Option<&str> {
        let key = format!("{}/{}", t.suite, t.workload);
        self.about
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The report as Markdown.
    pub fn markdown(&self) -> String {
        let tables = tables(self.rows);
        let outcomes = goals::check(self.goals, self.rows);
        let mut s = String::from("# coil benchmark report\n\n");
        for (key, label) in META_KEYS {
            if let Some(v) = machine::get(self.meta, key) {
                let _ = writeln!(s, "- **{label}**: {v}");
            }
        }
        s.push_str(
            "\nEvery ratio is against coil in the same run on the same machine: `÷ coil` is an \
             implementation's value divided by coil's. Each table says whether lower or higher \
             is better; ★ marks the best value in each column.\n",
        );
        if !outcomes.is_empty() {
            let pass = outcomes
                .iter()
                .filter(|o| o.verdict() == Some(true))
                .count();
            let judged = outcomes.iter().filter(|o| o.verdict().is_some()).count();
            let _ = write!(
                s,
                "\n## Goals: {pass} of {judged} met\n\n| | goal | check | measured |\n|---|---|---|---|\n"
            );
            for o in &outcomes {
                let (verdict, detail) = outcome_text(o);
                let mark = match verdict {
                    "PASS" => "✅ PASS",
                    "MISS" => "❌ MISS",
                    _ => "· no data",
                };
                let _ = writeln!(
                    s,
                    "| {mark} | {} | `{}/{}`: {} | {detail} |",
                    o.goal.note,
                    o.goal.suite,
                    o.goal.workload,
                    o.condition()
                );
            }
        }
        let glances: Vec<(&Table, Glance)> = tables
            .iter()
            .filter_map(|t| t.glance().map(|g| (t, g)))
            .collect();
        if !glances.is_empty() {
            s.push_str(
                "\n## At a glance\n\n| workload | unit | coil | best peer | coil vs best peer | coil vs CPython |\n\
                 |---|---|--:|---|---|---|\n",
            );
            for (t, g) in &glances {
                let (peer, vs_peer, vs_py) = g.cells(t);
                let base = if g.base.0 == "coil" {
                    String::new()
                } else {
                    format!(" ({})", g.base.0)
                };
                let _ = writeln!(
                    s,
                    "| {}/{} | {} | {}{base} | {peer} | {vs_peer} | {vs_py} |",
                    t.suite,
                    t.workload,
                    metric_label(&t.metrics[0]),
                    fmt_value(g.base.1)
                );
            }
        }
        let mut suite = "";
        for t in &tables {
            if t.suite != suite {
                suite = &t.suite;
                let _ = write!(s, "\n## {suite}\n");
            }
            let primary = &t.metrics[0];
            let _ = write!(
                s,
                "\n### {}/{} — {}, {}\n\n{}{}\n\n",
                t.suite,
                t.workload,
                metric_label(primary),
                direction(primary),
                self.about(t)
                    .map_or(String::new(), |a| format!("*{a}*\n\n")),
                t.verdict()
            );
            let base = t.baseline().unwrap_or("coil");
            let mut head = format!("| implementation | {} | ÷ {base} |", metric_label(primary));
            let mut rule = String::from("|---|--:|--:|");
            for m in &t.metrics[1..] {
                let _ = write!(
                    head,
                    " {} {} |",
                    metric_label(m),
                    if higher_is_better(m) { "↑" } else { "↓" }
                );
                rule.push_str("--:|");
            }
            let _ = writeln!(s, "{head}\n{rule}");
            for imp in &t.impls {
                let name = if Some(imp.as_str()) == t.baseline() {
                    format!("**{imp}**")
                } else {
                    imp.clone()
                };
                let cell = |m: &str| {
                    let v = t.value(imp, m).map_or("—".to_string(), fmt_value);
                    if t.best(m) == Some(imp.as_str()) {
                        format!("{v} ★")
                    } else {
                        v
                    }
                };
                let _ = write!(
                    s,
                    "| {name} | {} | {} |",
                    cell(primary),
                    fmt_ratio(t.ratio(imp, primary))
                );
                for m in &t.metrics[1..] {
                    let _ = write!(s, " {} |", cell(m));
                }
                s.push('\n');
            }
        }
        if tables.is_empty() {
            s.push_str("\nNo results yet: run `cargo xtask bench`.\n");
        }
        s
    }

    /// The report as one self-contained HTML page.
    pub fn html(&self) -> String {
        let tables = tables(self.rows);
        let outcomes = goals::check(self.goals, self.rows);
        let mut s = String::new();
        s.push_str(HTML_HEAD);
        s.push_str("<header><h1>coil benchmark report</h1>");
        s.push_str(
            "<p class=\"lede\">CPython's memory and concurrency model in Rust, measured against what you would use \
             instead — same run, same machine. <b>÷ coil</b> is an implementation's value divided by coil's; \
             each table says whether lower or higher is better, and ★ marks the best.</p><dl class=\"facts\">",
        );
        for (key, label) in META_KEYS {
            if let Some(v) = machine::get(self.meta, key) {
                let _ = write!(s, "<div><dt>{label}</dt><dd>{}</dd></div>", escape(v));
            }
        }
        s.push_str("</dl></header><main>");
        if !outcomes.is_empty() {
            let pass = outcomes
                .iter()
                .filter(|o| o.verdict() == Some(true))
                .count();
            let judged = outcomes.iter().filter(|o| o.verdict().is_some()).count();
            let _ = write!(
                s,
                "<section id=\"goals\"><h2>Goals <span class=\"count\">{pass} of {judged} met</span></h2>\
                 <table class=\"goals\"><thead><tr><th></th><th>goal</th><th>check</th><th>measured</th></tr></thead><tbody>"
            );
            for o in &outcomes {
                let (verdict, detail) = outcome_text(o);
                let class = match verdict {
                    "PASS" => "pass",
                    "MISS" => "miss",
                    _ => "none",
                };
                let _ = write!(
                    s,
                    "<tr><td><span class=\"badge {class}\">{verdict}</span></td><td>{}</td>\
                     <td><code>{}/{}</code> {}</td><td>{}</td></tr>",
                    escape(&o.goal.note),
                    escape(&o.goal.suite),
                    escape(&o.goal.workload),
                    escape(&o.condition()),
                    escape(&detail)
                );
            }
            s.push_str("</tbody></table></section>");
        }
        let glances: Vec<(&Table, Glance)> = tables
            .iter()
            .filter_map(|t| t.glance().map(|g| (t, g)))
            .collect();
        if !glances.is_empty() {
            s.push_str(
                "<section id=\"glance\"><h2>At a glance</h2><table class=\"glance\"><thead><tr>\
                 <th>workload</th><th>unit</th><th>coil</th><th>best peer</th><th>coil vs best peer</th>\
                 <th>coil vs CPython</th></tr></thead><tbody>",
            );
            for (t, g) in &glances {
                let word = |text: String| {
                    let class = if text.contains("faster") || text.contains("better") {
                        "good"
                    } else if text.contains("slower") || text.contains("worse") {
                        "bad"
                    } else {
                        ""
                    };
                    format!("<td class=\"{class}\">{}</td>", escape(&text))
                };
                let (peer, vs_peer, vs_py) = g.cells(t);
                let base = if g.base.0 == "coil" {
                    String::new()
                } else {
                    format!(" <span class=\"dir\">({})</span>", escape(&g.base.0))
                };
                let _ = write!(
                    s,
                    "<tr><td><a href=\"#{0}-{1}\">{0}/{1}</a></td><td>{2}</td><td class=\"num\">{3}{base}</td><td>{4}</td>{5}{6}</tr>",
                    escape(&t.suite),
                    escape(&t.workload),
                    escape(&metric_label(&t.metrics[0])),
                    fmt_value(g.base.1),
                    escape(&peer),
                    word(vs_peer),
                    word(vs_py)
                );
            }
            s.push_str("</tbody></table></section>");
        }
        let mut suites: Vec<&str> = tables.iter().map(|t| t.suite.as_str()).collect();
        suites.dedup();
        if suites.len() > 1 {
            s.push_str("<nav>");
            for su in &suites {
                let _ = write!(s, "<a href=\"#suite-{0}\">{0}</a>", escape(su));
            }
            s.push_str("</nav>");
        }
        for su in &suites {
            let _ = write!(s, "<section id=\"suite-{0}\"><h2>{0}</h2>", escape(su));
            for t in tables.iter().filter(|t| t.suite == *su) {
                self.html_table(&mut s, t);
            }
            s.push_str("</section>");
        }
        if tables.is_empty() {
            s.push_str("<p>No results yet: run <code>cargo xtask bench</code>.</p>");
        }
        s.push_str("</main><footer>Written by <code>cargo xtask bench</code>; figures in <code>results.json</code>.</footer></body></html>\n");
        s
    }

    fn html_table(&self, s: &mut String, t: &Table) {
        let primary = &t.metrics[0];
        let _ = write!(
            s,
            "<article class=\"workload\" id=\"{0}-{1}\"><h3>{0}/{1} <span class=\"unit\">{2} · {3}</span></h3>{4}<p class=\"verdict\">{5}</p><div class=\"pair\">",
            escape(&t.suite),
            escape(&t.workload),
            escape(&metric_label(primary)),
            direction(primary),
            self.about(t).map_or(String::new(), |a| format!(
                "<p class=\"what\">{}</p>",
                escape(a)
            )),
            escape(&t.verdict())
        );
        s.push_str("<table class=\"figures\"><thead><tr><th>implementation</th>");
        let _ = write!(
            s,
            "<th>{}</th><th>÷ {}</th>",
            escape(&metric_label(primary)),
            escape(t.baseline().unwrap_or("coil"))
        );
        for m in &t.metrics[1..] {
            let arrow = if higher_is_better(m) { "↑" } else { "↓" };
            let _ = write!(
                s,
                "<th>{} <span class=\"dir\">{arrow}</span></th>",
                escape(&metric_label(m))
            );
        }
        s.push_str("</tr></thead><tbody>");
        for imp in &t.impls {
            let base = Some(imp.as_str()) == t.baseline();
            let _ = write!(
                s,
                "<tr{}><td>{}</td>",
                if base { " class=\"base\"" } else { "" },
                escape(imp)
            );
            let cell = |s: &mut String, m: &str| {
                let v = t.value(imp, m).map_or("—".to_string(), fmt_value);
                if t.best(m) == Some(imp.as_str()) {
                    let _ = write!(s, "<td class=\"num best\">{v} ★</td>");
                } else {
                    let _ = write!(s, "<td class=\"num\">{v}</td>");
                }
            };
            cell(s, primary);
            // Green where coil beats a peer, red where the peer wins; coil's
            // own variants stay neutral.
            let ratio = t.ratio(imp, primary);
            let peer = !imp.starts_with("coil");
            let class = match ratio {
                // Within rounding of 1.00× is a tie: no colour.
                Some(r) if !peer || (r - 1.0).abs() < 0.005 => "num",
                Some(r) if (r > 1.0) != higher_is_better(primary) => "num good",
                Some(_) => "num bad",
                None => "num",
            };
            let _ = write!(s, "<td class=\"{class}\">{}</td>", fmt_ratio(ratio));
            for m in &t.metrics[1..] {
                cell(s, m);
            }
            s.push_str("</tr>");
        }
        s.push_str("</tbody></table>");
        let best = t.best(primary);
        let bars: Vec<Bar> = t
            .impls
            .iter()
            .map(|i| Bar {
                label: i.clone(),
                value: t.value(i, primary).unwrap_or(f64::NAN),
                best: Some(i.as_str()) == best,
            })
            .collect();
        let caption = format!("{}, {}", metric_label(primary), direction(primary));
        s.push_str(&svg::bar_chart(&bars, &caption));
        s.push_str("</div></article>");
    }
}

const HTML_HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>coil benchmark report</title>
<style>
:root { --fg:#212529; --muted:#6c757d; --line:#dee2e6; --accent:#e8590c; --bg:#f8f9fa; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--fg); background:var(--bg); }
header { background:#fff; border-bottom:3px solid var(--accent); padding:28px 40px 18px; }
h1 { margin:0 0 6px; font-size:28px; letter-spacing:-.01em; }
.lede { margin:0 0 14px; color:var(--muted); max-width:70em; }
.facts { display:flex; flex-wrap:wrap; gap:6px 28px; margin:0; }
.facts div { display:flex; gap:6px; } .facts dt { color:var(--muted); } .facts dd { margin:0; font-weight:500; }
main { padding:8px 40px 40px; max-width:1400px; }
nav { margin:18px 0 0; display:flex; gap:8px; }
nav a { padding:3px 12px; border:1px solid var(--line); border-radius:14px; background:#fff; color:var(--fg); text-decoration:none; }
h2 { margin:30px 0 12px; font-size:22px; border-bottom:1px solid var(--line); padding-bottom:4px; }
h2 .count { font-size:15px; color:var(--muted); font-weight:400; margin-left:8px; }
.workload { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 18px; margin:0 0 16px; }
h3 { margin:0; font-size:17px; } h3 .unit { color:var(--muted); font-weight:400; font-size:14px; margin-left:6px; }
.verdict { margin:2px 0 10px; color:#343a40; }
.what { margin:4px 0 0; color:var(--muted); font-size:14px; }
.pair { display:flex; flex-wrap:wrap; gap:18px 36px; align-items:flex-start; }
table { border-collapse:collapse; font-variant-numeric:tabular-nums; }
th, td { padding:4px 12px; border-bottom:1px solid var(--line); text-align:left; }
th { font-weight:600; font-size:13px; color:var(--muted); }
td.num { text-align:right; } th:not(:first-child) { text-align:right; }
tr.base td { font-weight:600; background:#fff4e6; }
td.best { color:#2b8a3e; font-weight:600; }
td.good { color:#2b8a3e; } td.bad { color:#c92a2a; }
.dir { font-weight:400; }
table.glance { background:#fff; border:1px solid var(--line); border-radius:8px; }
table.glance a { color:var(--fg); text-decoration:none; border-bottom:1px dotted var(--muted); }
table.glance th:nth-child(-n+2), table.glance th:nth-child(n+4) { text-align:left; }
table.goals { background:#fff; border:1px solid var(--line); border-radius:8px; }
table.goals th, table.goals td { text-align:left; vertical-align:top; }
.badge { display:inline-block; min-width:58px; text-align:center; padding:1px 8px; border-radius:10px; font-size:12px; font-weight:700; }
.badge.pass { background:#d3f9d8; color:#2b8a3e; } .badge.miss { background:#ffe3e3; color:#c92a2a; } .badge.none { background:#e9ecef; color:var(--muted); }
code { font-size:13px; background:#f1f3f5; padding:0 4px; border-radius:3px; }
svg.chart { font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
footer { padding:0 40px 30px; color:var(--muted); font-size:13px; }
</style></head><body>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn rows() -> Vec<Row> {
        vec![
            Row::new("heap", "alloc-free-128", "glibc", "ns_per_op", 12.0),
            Row::new("heap", "alloc-free-128", "coil", "ns_per_op", 4.0),
            Row::new("heap", "alloc-free-16", "glibc", "ns_per_op", 10.0),
            Row::new("heap", "alloc-free-16", "coil", "ns_per_op", 5.0),
            Row::new("heap", "alloc-free-16", "cpython", "ns_per_op", 40.0),
            Row::new("heap", "alloc-free-16", "jemalloc", "ns_per_op", 4.0),
            Row::new("heap", "alloc-free-16", "coil-global", "ns_per_op", 6.0),
            Row::new("gc", "dead-rings", "coil", "ns_per_op", 30.0),
            Row::new("heap", "rss", "coil", "returned_pct", 90.0),
            Row::new("heap", "rss", "glibc", "returned_pct", 0.0),
            Row::new("heap", "rss", "glibc", "rss_after_mib", 120.0),
        ]
    }

    #[test]
    fn tables_are_ordered_and_ratios_taken_against_coil() {
        let t = tables(&rows());
        let names: Vec<String> = t
            .iter()
            .map(|t| format!("{}/{}", t.suite, t.workload))
            .collect();
        assert_eq!(
            names,
            [
                "heap/alloc-free-16",
                "heap/alloc-free-128",
                "heap/rss",
                "gc/dead-rings"
            ]
        );
        let a = &t[0];
        assert_eq!(
            a.impls,
            ["coil", "coil-global", "glibc", "jemalloc", "cpython"]
        );
        assert_eq!(a.ratio("glibc", "ns_per_op"), Some(2.0));
        assert_eq!(a.ratio("cpython", "ns_per_op"), Some(8.0));
        assert_eq!(a.best("ns_per_op"), Some("jemalloc"));
        assert_eq!(
            a.verdict(),
            "jemalloc is best; coil is 2nd of 5, 1.25× slower than jemalloc."
        );
        assert_eq!(
            t[1].verdict(),
            "coil is best: 3.00× faster than the best peer, glibc."
        );
        // Higher is better for returned_*.
        assert_eq!(t[2].best("returned_pct"), Some("coil"));
        assert_eq!(t[2].value("coil", "rss_after_mib"), None);
        assert_eq!(t[3].verdict(), "coil is the only implementation measured.");
    }

    #[test]
    fn metric_order_comes_from_the_rust_rows() {
        let rows = vec![
            Row::new("heap", "rss", "cpython", "rss_mib", 1.0),
            Row::new("heap", "rss", "cpython", "returned_pct", 98.0),
            Row::new("heap", "rss", "coil", "returned_pct", 95.0),
            Row::new("heap", "rss", "coil", "rss_mib", 1.0),
        ];
        assert_eq!(tables(&rows)[0].metrics, ["returned_pct", "rss_mib"]);
    }

    #[test]
    fn ratio_without_coil_uses_the_first_coil_variant() {
        let rows = vec![
            Row::new("heap", "churn-threads", "glibc", "ns_per_op", 300.0),
            Row::new("heap", "churn-threads", "coil-global", "ns_per_op", 150.0),
        ];
        let t = &tables(&rows)[0];
        assert_eq!(t.baseline(), Some("coil-global"));
        assert_eq!(t.ratio("glibc", "ns_per_op"), Some(2.0));
    }

    #[test]
    fn verdict_compares_coil_with_peers_not_its_own_variants() {
        let rows = vec![
            Row::new("heap", "w", "coil", "ns_per_op", 5.0),
            Row::new("heap", "w", "coil-global", "ns_per_op", 6.0),
            Row::new("heap", "w", "glibc", "ns_per_op", 10.0),
        ];
        let t = &tables(&rows)[0];
        assert_eq!(
            t.verdict(),
            "coil is best: 2.00× faster than the best peer, glibc."
        );
    }

    #[test]
    fn values_are_formatted_for_people() {
        assert_eq!(fmt_value(4.123), "4.12");
        assert_eq!(fmt_value(41.23), "41.2");
        assert_eq!(fmt_value(412.3), "412");
        assert_eq!(fmt_value(50_000_000.0), "50,000,000");
        assert_eq!(fmt_value(-12_345.0), "-12,345");
        assert_eq!(fmt_value(f64::NAN), "—");
        assert_eq!(fmt_value(0.0), "0.00");
        assert_eq!(fmt_value(99.96), "100");
        assert_eq!(fmt_value(9.996), "10.0");
        assert_eq!(fmt_value(0.004), "4.00e-3");
        assert_eq!(
            natural_cmp("alloc-free-16", "alloc-free-128"),
            Ordering::Less
        );
        assert_eq!(
            natural_cmp("rss-after-free", "rss-after-free-ordered"),
            Ordering::Less
        );
        assert_eq!(ordinal(2), "2nd");
        assert_eq!(ordinal(11), "11th");
    }

    #[test]
    fn markdown_of_a_fixed_input() {
        let goals = goals::parse("heap/alloc-free-*  coil  <=  glibc / 2   # 2x glibc\n").unwrap();
        let meta: Meta = vec![
            ("date".into(), "2026-11-23 17:00 UTC".into()),
            ("profile".into(), "quick".into()),
        ];
        let rows = rows();
        let md = Report {
            meta: &meta,
            rows: &rows,
            goals: &goals,
            about: &[(
                "heap/alloc-free-16".into(),
                "allocate 16 B, free at once".into(),
            )],
        }
        .markdown();
        assert!(md.starts_with("# coil benchmark report\n"));
        assert!(md.contains(
            "### heap/alloc-free-16 — ns / op, lower is better\n\n*allocate 16 B, free at once*\n"
        ));
        assert!(md.contains("- **profile**: quick"));
        assert!(md.contains("## Goals: 1 of 1 met"));
        assert!(md.contains("| ✅ PASS | 2x glibc | `heap/alloc-free-*`: coil ≤ glibc / 2 | 2 of 2 pass; worst alloc-free-16: coil 5.00 vs 5.00 (glibc 10.0 × 0.50) |"));
        assert!(md.contains("### heap/alloc-free-16 — ns / op, lower is better"));
        assert!(md.contains("| **coil** | 5.00 | 1.00× |"));
        assert!(md.contains("| jemalloc | 4.00 ★ | 0.80× |"));
        assert!(md.contains("| cpython | 40.0 | 8.00× |"));
        assert!(
            md.contains(
                "| implementation | returned to OS (%) | ÷ coil | RSS after free (MiB) ↓ |"
            )
        );
        assert!(md.contains("| glibc | 0.00 | 0.00× | 120 ★ |"));
        assert!(md.find("## heap").unwrap() < md.find("## gc").unwrap());
        assert!(md.contains(
            "| heap/alloc-free-16 | ns / op | 5.00 | jemalloc 4.00 | 1.25× slower | 8.00× faster |"
        ));
        assert!(
            md.contains("| heap/alloc-free-128 | ns / op | 4.00 | glibc 12.0 | 3.00× faster | — |")
        );
        assert!(md.contains(
            "| heap/rss | returned to OS (%) | 90.0 | glibc 0.00 | better (peer: 0) | — |"
        ));
    }

    #[test]
    fn html_of_a_fixed_input() {
        let goals = goals::parse("heap/nothing  coil  <=  glibc   # absent\n").unwrap();
        let meta: Meta = vec![("cpu".into(), "Test <CPU>".into())];
        let rows = rows();
        let html = Report {
            meta: &meta,
            rows: &rows,
            goals: &goals,
            about: &[(
                "heap/alloc-free-16".into(),
                "allocate 16 B, free at once".into(),
            )],
        }
        .html();
        assert!(html.starts_with("<!doctype html>"));
        assert!(html.trim_end().ends_with("</html>"));
        assert!(html.contains("Test &lt;CPU&gt;"));
        assert!(html.contains("<p class=\"what\">allocate 16 B, free at once</p>"));
        assert_eq!(
            parse_about("# c\nheap/x   one line\n\nbad\n"),
            [("heap/x".to_string(), "one line".to_string())]
        );
        assert!(html.contains("<span class=\"badge none\">no data</span>"));
        assert_eq!(html.matches("<svg").count(), 4, "one chart per workload");
        assert_eq!(html.matches("<article").count(), 4);
        assert!(html.contains("<a href=\"#suite-gc\">gc</a>"));
        assert!(html.contains("<td class=\"num best\">4.00 ★</td>"));
    }

    #[test]
    fn empty_report_says_how_to_fill_it() {
        let meta = Meta::new();
        let r = Report {
            meta: &meta,
            rows: &[],
            goals: &[],
            about: &[],
        };
        assert!(r.markdown().contains("run `cargo xtask bench`"));
        assert!(r.html().contains("run <code>cargo xtask bench</code>"));
    }
}
