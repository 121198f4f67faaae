//! Line charts over the run's timeline, as inline SVG drawn from numbers.
//!
//! The markup is built here, not in the template, and goes into the page
//! unescaped: so nothing a user wrote ever reaches it. Titles and series
//! labels are fixed strings of this crate (or `shard N`, from a number),
//! tick labels are formatted numbers, and all of them are escaped anyway.

use std::fmt::Write;

/// The chart's coordinate box (the SVG `viewBox`); CSS scales it.
pub(crate) const WIDTH: f64 = 600.0;
pub(crate) const HEIGHT: f64 = 240.0;
/// The plot area inside the box: room for tick labels left and below, the
/// legend above.
pub(crate) const LEFT: f64 = 64.0;
pub(crate) const RIGHT: f64 = WIDTH - 16.0;
pub(crate) const TOP: f64 = 28.0;
pub(crate) const BOTTOM: f64 = HEIGHT - 28.0;

/// At most this many intervals between time ticks.
const X_TICKS: i64 = 6;

/// A line of more seconds than this is drawn from buckets of neighbouring
/// seconds, each as its lowest and its highest value in time order: at
/// most twice this many points, whatever the run's length (an 8-hour run
/// would otherwise draw 28,800 points a line), and no peak or dip is lost.
pub(crate) const MAX_BUCKETS: usize = 600;

/// One line: a value (or a gap) per timeline second.
pub(crate) struct Series {
    pub label: String,
    /// A CSS colour, fixed by this crate.
    pub color: &'static str,
    pub values: Vec<Option<f64>>,
}

/// A chart of one or more series over the same seconds.
pub(crate) struct Chart<'a> {
    /// The SVG element's id, and the prefix of its title's id.
    pub id: &'static str,
    pub title: &'static str,
    /// Unix seconds, one per value of every series.
    pub times: &'a [i64],
    pub series: Vec<Series>,
    /// How a value on the y axis is printed (`12ms`, `40/s`, `5.00%`).
    pub format_y: fn(f64) -> String,
    /// The y axis reaches at least this high, so that a flat line at zero
    /// (no errors) sits on a sensible scale.
    pub min_y_max: f64,
}

/// The chart as an `<svg>` element. With fewer than two seconds, or no
/// value at all, it says "no data" instead of drawing a line.
pub(crate) fn render(chart: &Chart) -> String {
    let (Some(&first), Some(&last)) = (chart.times.iter().min(), chart.times.iter().max()) else {
        return no_data(chart, "no data");
    };
    let finite = |v: &Option<f64>| v.filter(|v| v.is_finite());
    let max = chart
        .series
        .iter()
        .flat_map(|s| s.values.iter().filter_map(finite))
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    let Some(max) = max else { return no_data(chart, "no data") };
    if last == first {
        return no_data(chart, "no data: a single second");
    }
    let (y_max, y_ticks) = nice_ceiling(max.max(chart.min_y_max));
    let x = |t: i64| LEFT + (t - first) as f64 / (last - first) as f64 * (RIGHT - LEFT);
    let y = |v: f64| y_at(v, y_max);

    let mut svg = open(chart.id, chart.title);
    y_grid(&mut svg, y_max, y_ticks, chart.format_y);
    let step = x_step(last - first);
    for elapsed in (0..=last - first).step_by(step as usize) {
        let at = x(first + elapsed);
        let anchor = match elapsed {
            0 => "start",
            _ if RIGHT - at < 20.0 => "end",
            _ => "middle",
        };
        let label = escape(&loadgrid_report::format::duration_ms(elapsed as f64 * 1000.0));
        let _ = write!(
            svg,
            r#"<text class="tick" x="{at:.1}" y="{:.1}" text-anchor="{anchor}">{label}</text>"#,
            BOTTOM + 18.0
        );
    }
    axes(&mut svg);
    let mut legend_x = RIGHT;
    for series in chart.series.iter().rev() {
        let label = escape(&series.label);
        let width = 18.0 + 7.0 * series.label.chars().count() as f64;
        legend_x -= width;
        let _ = write!(
            svg,
            r#"<rect x="{legend_x:.1}" y="8" width="10" height="10" fill="{}"/><text class="legend" x="{:.1}" y="17">{label}</text>"#,
            series.color,
            legend_x + 14.0,
        );
    }
    for series in &chart.series {
        let (times, values) = downsample(chart.times, &series.values);
        let d = path_data(&times, &values, x, y);
        if !d.is_empty() {
            let _ = write!(
                svg,
                r#"<path class="series" data-series="{}" stroke="{}" d="{d}"/>"#,
                escape(&series.label),
                series.color
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The line's points, at most [`MAX_BUCKETS`] × 2 of them: every second
/// when there are few enough, otherwise each bucket's minimum and maximum
/// (a bucket without a value stays a gap).
pub(crate) fn downsample(times: &[i64], values: &[Option<f64>]) -> (Vec<i64>, Vec<Option<f64>>) {
    if times.len() <= 2 * MAX_BUCKETS {
        return (times.to_vec(), values.to_vec());
    }
    let per_bucket = times.len().div_ceil(MAX_BUCKETS);
    let mut points: Vec<(i64, Option<f64>)> = Vec::with_capacity(2 * MAX_BUCKETS);
    for (bucket_times, bucket_values) in times.chunks(per_bucket).zip(values.chunks(per_bucket)) {
        let finite =
            || bucket_values.iter().enumerate().filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i, v)));
        let lowest = finite().min_by(|a, b| a.1.total_cmp(&b.1));
        let highest = finite().max_by(|a, b| a.1.total_cmp(&b.1));
        match (lowest, highest) {
            (Some(low), Some(high)) => {
                let (first, second) = if low.0 <= high.0 { (low, high) } else { (high, low) };
                points.push((bucket_times[first.0], Some(first.1)));
                if second.0 != first.0 {
                    points.push((bucket_times[second.0], Some(second.1)));
                }
            }
            _ => points.push((bucket_times[0], None)),
        }
    }
    points.into_iter().unzip()
}

/// `M x,y L x,y …`, starting a new subpath after each gap; a point alone
/// between gaps becomes a zero-length segment, which the round line cap
/// draws as a dot.
pub(crate) fn path_data(
    times: &[i64],
    values: &[Option<f64>],
    x: impl Fn(i64) -> f64,
    y: impl Fn(f64) -> f64,
) -> String {
    let mut d = String::new();
    let mut run: Vec<(f64, f64)> = Vec::new();
    let flush = |run: &mut Vec<(f64, f64)>, d: &mut String| {
        if let [only] = run.as_slice() {
            run.push(*only);
        }
        for (i, (px, py)) in run.iter().enumerate() {
            let _ = write!(d, "{}{px:.1},{py:.1}", if i == 0 { 'M' } else { 'L' });
        }
        run.clear();
    };
    for (&t, value) in times.iter().zip(values) {
        match value.filter(|v| v.is_finite()) {
            Some(v) => run.push((x(t), y(v))),
            None => flush(&mut run, &mut d),
        }
    }
    flush(&mut run, &mut d);
    d
}

/// The height of `value` in the plot box, on a y axis from 0 to `y_max`.
pub(crate) fn y_at(value: f64, y_max: f64) -> f64 {
    BOTTOM - (value.max(0.0) / y_max) * (BOTTOM - TOP)
}

/// Horizontal grid lines with their tick labels, from 0 to `y_max` in
/// `ticks` steps.
pub(crate) fn y_grid(svg: &mut String, y_max: f64, ticks: usize, format_y: fn(f64) -> String) {
    for i in 0..=ticks {
        let value = y_max * i as f64 / ticks as f64;
        let at = y_at(value, y_max);
        let _ = write!(svg, r#"<line class="grid" x1="{LEFT}" y1="{at:.1}" x2="{RIGHT}" y2="{at:.1}"/>"#);
        let label = escape(&format_y(value));
        let _ = write!(
            svg,
            r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{label}</text>"#,
            LEFT - 6.0,
            at + 4.0
        );
    }
}

/// The left and bottom axis lines.
pub(crate) fn axes(svg: &mut String) {
    let _ = write!(svg, r#"<path class="axis" d="M{LEFT},{TOP}V{BOTTOM}H{RIGHT}"/>"#);
}

/// `<svg …><title>…</title>`: a chart's opening, to be closed with `</svg>`.
pub(crate) fn open(id: &str, title: &str) -> String {
    format!(
        r#"<svg id="{id}" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">{}</title>"#,
        escape(title),
        id = escape(id),
    )
}

fn no_data(chart: &Chart, message: &str) -> String {
    empty(chart.id, chart.title, message)
}

/// A chart with nothing to draw: a grey box that says `message`.
pub(crate) fn empty(id: &str, title: &str, message: &str) -> String {
    let mut svg = open(id, title);
    let _ = write!(
        svg,
        r#"<rect class="empty" x="{LEFT}" y="{TOP}" width="{}" height="{}"/><text class="no-data" x="{}" y="{}" text-anchor="middle">{}</text></svg>"#,
        RIGHT - LEFT,
        BOTTOM - TOP,
        (LEFT + RIGHT) / 2.0,
        (TOP + BOTTOM) / 2.0,
        escape(message),
    );
    svg
}

/// The smallest 1, 2 or 5 × 10ⁿ at or above `max` (1 when there is
/// nothing above zero), and how many intervals split it into round steps
/// (5 of 0.2, 4 of 0.5, 5 of 1, times 10ⁿ).
pub(crate) fn nice_ceiling(max: f64) -> (f64, usize) {
    if !(max.is_finite() && max > 0.0) {
        return (1.0, 5);
    }
    let magnitude = 10f64.powf(max.log10().floor());
    let scaled = max / magnitude;
    let (step, ticks) = [(1.0, 5), (2.0, 4), (5.0, 5), (10.0, 5)]
        .into_iter()
        .find(|&(s, _)| scaled <= s * (1.0 + 1e-9))
        .unwrap_or((10.0, 5));
    (step * magnitude, ticks)
}

/// Seconds between time ticks: a round step giving at most [`X_TICKS`]
/// intervals over `span` seconds.
fn x_step(span: i64) -> i64 {
    const STEPS: [i64; 12] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800];
    STEPS.into_iter().find(|&s| span <= s * X_TICKS).unwrap_or_else(|| ((span / X_TICKS + 3599) / 3600).max(1) * 3600)
}

/// Escapes text for SVG/HTML content and double-quoted attributes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart<'a>(times: &'a [i64], values: Vec<Option<f64>>) -> Chart<'a> {
        Chart {
            id: "chart-test",
            title: "Requests <per> second",
            times,
            series: vec![Series { label: "rps".into(), color: "#1f77b4", values }],
            format_y: |v| loadgrid_report::format::number(v),
            min_y_max: 1.0,
        }
    }

    /// The points of every `d="…"` of the series paths.
    fn points(svg: &str) -> Vec<Vec<(f64, f64)>> {
        svg.split(r#"class="series""#)
            .skip(1)
            .map(|rest| {
                let d = rest.split(r#"d=""#).nth(1).unwrap().split('"').next().unwrap();
                d.split(['M', 'L'])
                    .filter(|p| !p.is_empty())
                    .map(|p| {
                        let (x, y) = p.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn points_scale_into_the_plot_box() {
        let times: Vec<i64> = (100..160).collect();
        let values = (0..60).map(|i| Some(f64::from(i) * 3.0)).collect();
        let svg = render(&chart(&times, values));
        let paths = points(&svg);
        assert_eq!(paths.len(), 1, "{svg}");
        let line = &paths[0];
        assert_eq!(line.len(), 60);
        for &(x, y) in line {
            assert!((LEFT..=RIGHT).contains(&x), "x {x} outside the plot");
            assert!((TOP..=BOTTOM).contains(&y), "y {y} outside the plot");
        }
        assert_eq!(line[0], (LEFT, BOTTOM), "the first second at zero sits in the bottom-left corner");
        assert_eq!(line[59].0, RIGHT, "the last second on the right edge");
        // 177 under a nice ceiling of 200.
        let expected = BOTTOM - 177.0 / 200.0 * (BOTTOM - TOP);
        assert!((line[59].1 - expected).abs() < 0.06, "{} vs {expected}", line[59].1);
        assert!(line.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 >= w[1].1), "rising values go up and right");
    }

    #[test]
    fn empty_and_single_second_series_say_no_data() {
        for (times, values) in [(vec![], vec![]), (vec![5], vec![Some(3.0)]), (vec![5, 6], vec![None, None])] {
            let svg = render(&chart(&times, values));
            assert!(svg.contains("no data"), "{svg}");
            assert!(!svg.contains(r#"class="series""#), "{svg}");
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        }
    }

    #[test]
    fn gaps_start_a_new_subpath_and_lone_points_stay_visible() {
        let times = [0, 1, 2, 3, 4];
        let svg = render(&chart(&times, vec![Some(1.0), Some(2.0), None, Some(4.0), None]));
        let d = svg.split(r#"d=""#).last().unwrap().split('"').next().unwrap();
        assert_eq!(d.matches('M').count(), 2, "{d}");
        assert_eq!(points(&svg)[0].len(), 4, "the lone point is drawn as a zero-length segment: {d}");
    }

    #[test]
    fn a_flat_zero_line_uses_the_minimum_scale() {
        let times = [0, 1, 2];
        let mut flat = chart(&times, vec![Some(0.0); 3]);
        flat.min_y_max = 0.01;
        flat.format_y = loadgrid_report::format::percent;
        let svg = render(&flat);
        assert!(svg.contains(">1.00%<") && !svg.contains("100.00%"), "{svg}");
        assert!(points(&svg)[0].iter().all(|&(_, y)| y == BOTTOM));
    }

    #[test]
    fn ceilings_are_round() {
        assert_eq!(nice_ceiling(0.0), (1.0, 5));
        assert_eq!(nice_ceiling(f64::NAN), (1.0, 5));
        assert_eq!(nice_ceiling(1.0), (1.0, 5));
        assert_eq!(nice_ceiling(177.0), (200.0, 4));
        assert_eq!(nice_ceiling(300.0), (500.0, 5));
        assert_eq!(nice_ceiling(501.0), (1000.0, 5));
        let (ceiling, ticks) = nice_ceiling(0.031);
        assert!((ceiling - 0.05).abs() < 1e-12 && ticks == 5);
    }

    #[test]
    fn time_ticks_are_round() {
        assert_eq!(x_step(1), 1);
        assert_eq!(x_step(59), 10);
        assert_eq!(x_step(60), 10);
        assert_eq!(x_step(61), 15);
        assert_eq!(x_step(3600), 600);
        assert_eq!(x_step(8 * 3600), 3600 * 2);
        let times: Vec<i64> = (0..60).collect();
        let svg = render(&chart(&times, vec![Some(1.0); 60]));
        for label in [">0s<", ">10s<", ">50s<"] {
            assert!(svg.contains(label), "{label}: {svg}");
        }
    }

    #[test]
    fn an_eight_hour_line_keeps_its_peaks_in_a_bounded_point_count() {
        let seconds = 8 * 3600;
        let times: Vec<i64> = (0..seconds).collect();
        // A calm 10 ms with one 5 s spike and one 1 ms dip, each a single second.
        let values: Vec<Option<f64>> = (0..seconds)
            .map(|t| match t {
                10_001 => Some(5000.0),
                20_002 => Some(1.0),
                _ => Some(10.0 + (t % 7) as f64),
            })
            .collect();
        let svg = render(&chart(&times, values));
        let line = &points(&svg)[0];
        assert!(line.len() <= 2 * MAX_BUCKETS, "{} points", line.len());
        assert!(line.len() >= MAX_BUCKETS, "{} points", line.len());
        let top = line.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        assert_eq!(top, TOP, "the 5 s spike is the top of the chart");
        let dip = BOTTOM - 1.0 / 5000.0 * (BOTTOM - TOP);
        let lowest = line.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        assert!((lowest - dip).abs() < 0.06, "the 1 ms dip is drawn: {lowest} vs {dip}");
        assert!(line.windows(2).all(|w| w[0].0 <= w[1].0), "points stay in time order");
        assert!(svg.len() < 40_000, "an 8-hour chart of {} bytes", svg.len());
    }

    #[test]
    fn downsampling_keeps_empty_buckets_as_gaps() {
        let times: Vec<i64> = (0..3000).collect();
        let values: Vec<Option<f64>> = (0..3000).map(|t| (!(1000..1100).contains(&t)).then_some(1.0)).collect();
        let (_, sampled) = downsample(&times, &values);
        assert!(sampled.iter().any(Option::is_none), "the 100 s without requests stay a gap");
        assert!(sampled.len() <= 2 * MAX_BUCKETS);
    }

    #[test]
    fn text_in_the_svg_is_escaped() {
        let times = [0, 1];
        let svg = render(&chart(&times, vec![Some(1.0), Some(2.0)]));
        assert!(svg.contains("Requests &lt;per&gt; second"), "{svg}");
        assert!(!svg.contains("<per>"));
        assert_eq!(escape(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#x27;&amp;&#x27;&lt;/a&gt;");
    }
}
