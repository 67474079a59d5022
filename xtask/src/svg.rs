//! Hand-written SVG bar charts for the HTML report: one horizontal bar per
//! implementation, coil's bars in the accent colour, the best one starred.

use std::fmt::Write as _;

use crate::report::{escape, fmt_value};

/// One bar.
#[derive(Debug, Clone)]
pub struct Bar {
    /// The implementation's name.
    pub label: String,
    /// Its value (bars with a non-finite value are drawn empty, labelled "—").
    pub value: f64,
    /// True for the best value.
    pub best: bool,
}

const LABEL_W: f64 = 132.0;
const BAR_W: f64 = 300.0;
const VALUE_W: f64 = 92.0;
const ROW_H: f64 = 26.0;
const TOP: f64 = 8.0;

fn colour(label: &str) -> &'static str {
    if label == "coil" {
        "#e8590c"
    } else if label.starts_with("coil") {
        "#f59f00"
    } else if label.starts_with("cpython") {
        "#1c7ed6"
    } else {
        "#868e96"
    }
}

/// Values above this many times the smallest one are drawn off scale (clipped
/// with a break mark), so one far-off implementation (an interpreter's loop
/// beside a 5 ns allocator) does not flatten every other bar.
pub const OFF_SCALE: f64 = 8.0;

/// The axis maximum for `values`: the largest value, or, when some values are
/// more than [`OFF_SCALE`] times the smallest positive one, the largest value
/// that is not, plus a margin.
pub fn axis_max(values: &[f64]) -> f64 {
    let finite = values
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v >= 0.0);
    let max = finite.clone().fold(0.0_f64, f64::max);
    let min = finite
        .clone()
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    if !min.is_finite() || max <= OFF_SCALE * min {
        return max;
    }
    finite
        .filter(|v| *v <= OFF_SCALE * min)
        .fold(0.0_f64, f64::max)
        * 1.15
}

/// A horizontal bar chart of `bars`, linear from zero, with `caption` under it.
pub fn bar_chart(bars: &[Bar], caption: &str) -> String {
    let width = LABEL_W + BAR_W + VALUE_W;
    let height = TOP + ROW_H * bars.len() as f64 + 24.0;
    let values: Vec<f64> = bars.iter().map(|b| b.value).collect();
    let max = axis_max(&values);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{}">"#,
        escape(caption)
    );
    let _ = write!(
        s,
        r##"<line x1="{LABEL_W}" y1="{TOP}" x2="{LABEL_W}" y2="{}" stroke="#adb5bd" stroke-width="1"/>"##,
        TOP + ROW_H * bars.len() as f64
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = TOP + ROW_H * i as f64;
        let off_scale = bar.value.is_finite() && bar.value > max;
        let w = if off_scale {
            BAR_W
        } else if bar.value.is_finite() && max > 0.0 {
            (bar.value / max * BAR_W).max(1.5)
        } else {
            0.0
        };
        let weight = if bar.label == "coil" || bar.best {
            "600"
        } else {
            "400"
        };
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end" font-size="13" font-weight="{weight}" fill="#212529">{}</text>"##,
            LABEL_W - 8.0,
            y + 17.0,
            escape(&bar.label)
        );
        let _ = write!(
            s,
            r#"<rect x="{LABEL_W}" y="{}" width="{w:.1}" height="{}" rx="2" fill="{}"><title>{}: {}</title></rect>"#,
            y + 4.0,
            ROW_H - 8.0,
            colour(&bar.label),
            escape(&bar.label),
            fmt_value(bar.value)
        );
        if off_scale {
            // A white double slash across the bar: "not to scale".
            let x = LABEL_W + BAR_W * 0.8;
            let _ = write!(
                s,
                r##"<path d="M{} {} l6 -{} M{} {} l6 -{}" stroke="#fff" stroke-width="3"/>"##,
                x,
                y + ROW_H - 3.0,
                ROW_H - 6.0,
                x + 6.0,
                y + ROW_H - 3.0,
                ROW_H - 6.0
            );
        }
        let star = if bar.best { " ★" } else { "" };
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" font-size="12" fill="#495057">{}{star}</text>"##,
            LABEL_W + w + 6.0,
            y + 17.0,
            fmt_value(bar.value)
        );
    }
    let _ = write!(
        s,
        r##"<text x="{LABEL_W}" y="{}" font-size="11" fill="#868e96">{}</text></svg>"##,
        height - 6.0,
        escape(caption)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chart_has_one_bar_per_value_scaled_to_the_largest() {
        let bars = [
            Bar {
                label: "coil".into(),
                value: 5.0,
                best: true,
            },
            Bar {
                label: "glibc".into(),
                value: 10.0,
                best: false,
            },
            Bar {
                label: "x<y".into(),
                value: f64::NAN,
                best: false,
            },
        ];
        let svg = bar_chart(&bars, "ns / op, lower is better");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains(r#"width="150.0""#),
            "coil at half of the largest bar"
        );
        assert!(svg.contains(r#"width="300.0""#));
        assert!(svg.contains("x&lt;y"), "labels are escaped");
        assert!(svg.contains("5.00 ★"));
        assert!(!svg.contains("<path"), "nothing off scale");
    }

    #[test]
    fn far_off_values_are_clipped_with_a_break_mark() {
        assert_eq!(axis_max(&[5.0, 6.0, 10.0]), 10.0);
        assert_eq!(axis_max(&[5.0, 10.0, 218.0, 242.0]), 10.0 * 1.15);
        assert_eq!(axis_max(&[f64::NAN]), 0.0);
        let bars = [
            Bar {
                label: "coil".into(),
                value: 5.0,
                best: true,
            },
            Bar {
                label: "glibc".into(),
                value: 10.0,
                best: false,
            },
            Bar {
                label: "cpython".into(),
                value: 218.0,
                best: false,
            },
        ];
        let svg = bar_chart(&bars, "c");
        assert_eq!(svg.matches("<path").count(), 1);
        assert!(
            svg.contains(r#"width="300.0""#),
            "the clipped bar spans the axis"
        );
        assert!(svg.contains(">218<"), "with its real value");
    }
}
