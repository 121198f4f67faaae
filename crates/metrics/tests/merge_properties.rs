//! Properties the grid relies on: merging shards is exact and order-free,
//! merged percentiles match k6's exact ones within 3 significant digits, and
//! the shard-result format loses nothing.

use loadgrid_metrics::{
    decode_shard_result, encode_shard_result, Aggregate, MetricEntry, MetricKind, MetricSet, ShardResult, TagSet,
    ValueKind, VALUE_SCALE,
};
use proptest::prelude::*;

/// Metrics as shards of one run see them: the same name always has the same
/// type, though a custom metric's type may not be known on every shard.
const METRICS: [(&str, Option<MetricKind>, ValueKind, bool); 6] = [
    ("http_reqs", Some(MetricKind::Counter), ValueKind::Default, false),
    ("vus", Some(MetricKind::Gauge), ValueKind::Default, false),
    ("checks", Some(MetricKind::Rate), ValueKind::Default, false),
    ("http_req_duration", Some(MetricKind::Trend), ValueKind::Time, false),
    ("http_req_waiting", Some(MetricKind::Trend), ValueKind::Time, true),
    ("custom_trend", Some(MetricKind::Trend), ValueKind::Time, false),
];

fn value() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0i64),
        Just(VALUE_SCALE),
        0i64..1_000_000_000,
        -1_000_000i64..0,
        // Large and extreme values: sums are i128, histograms clamp.
        any::<i64>(),
        (0u32..62).prop_map(|shift| 1i64 << shift),
    ]
}

/// Few distinct times, so that equal times (the gauge tie-break) happen.
fn time() -> impl Strategy<Value = i64> {
    prop_oneof![0i64..4, 1_700_000_000_000_000i64..1_700_000_000_000_004, Just(i64::MIN + 1), Just(i64::MAX)]
}

fn aggregate(with_histogram: bool) -> impl Strategy<Value = Aggregate> {
    proptest::collection::vec((value(), time()), 0..12).prop_map(move |samples| {
        let mut aggregate = Aggregate::new(with_histogram);
        for (value, time) in samples {
            aggregate.record(value, time);
        }
        aggregate
    })
}

fn tag_set() -> impl Strategy<Value = TagSet> {
    (prop::option::of(prop::sample::select(vec!["login", "items", "a,b"])), prop::option::of(0u8..3)).prop_map(
        |(name, status)| {
            let mut tags = TagSet::new();
            if let Some(name) = name {
                tags.insert("name".into(), name.into());
            }
            if let Some(status) = status {
                tags.insert("status".into(), ["200", "404", "500"][status as usize].into());
            }
            tags
        },
    )
}

fn entry(index: usize) -> impl Strategy<Value = (String, MetricEntry)> {
    let (name, kind, contains, collapsed) = METRICS[index];
    // A custom metric's type is sometimes still unknown on a shard, which
    // then keeps histograms.
    let kind =
        if name == "custom_trend" { prop::option::of(Just(MetricKind::Trend)).boxed() } else { Just(kind).boxed() };
    kind.prop_flat_map(move |kind| {
        let histograms = matches!(kind, None | Some(MetricKind::Trend));
        let series = if collapsed {
            proptest::collection::btree_map(Just(TagSet::new()), aggregate(histograms), 0..2).boxed()
        } else {
            proptest::collection::btree_map(tag_set(), aggregate(histograms), 0..4).boxed()
        };
        (
            series,
            prop::option::of(aggregate(histograms)),
            proptest::collection::btree_map(tag_set(), aggregate(histograms), 0..3),
        )
            .prop_map(move |(series, overflow, selectors)| {
                let contains = if kind.is_some() { contains } else { ValueKind::Default };
                let mut entry = MetricEntry::new(kind, contains);
                entry.series = series;
                entry.overflow = if collapsed { None } else { overflow };
                entry.selectors = selectors;
                entry.collapsed = collapsed;
                (name.to_owned(), entry)
            })
    })
}

#[derive(Debug, Clone)]
struct SecondSpec {
    unix_second: i64,
    requests: u64,
    failed_requests: u64,
    iterations: u64,
    vus: u64,
    vus_max: u64,
    latencies: Vec<i64>,
}

fn second() -> impl Strategy<Value = SecondSpec> {
    (
        1_700_000_000i64..1_700_000_010,
        0u64..1_000_000,
        0u64..1000,
        0u64..1000,
        0u64..500,
        0u64..500,
        proptest::collection::vec(value(), 0..10),
    )
        .prop_map(|(unix_second, requests, failed_requests, iterations, vus, vus_max, latencies)| SecondSpec {
            unix_second,
            requests,
            failed_requests,
            iterations,
            vus,
            vus_max,
            latencies,
        })
}

fn metric_set() -> impl Strategy<Value = MetricSet> {
    let entries: Vec<_> = (0..METRICS.len()).map(|index| prop::option::of(entry(index))).collect();
    (entries, proptest::collection::vec(second(), 0..6), 0u64..1000).prop_map(|(entries, seconds, overflow_samples)| {
        let mut set = MetricSet::new();
        set.metrics = entries.into_iter().flatten().collect();
        for spec in seconds {
            let second = set.timeline.second_mut(spec.unix_second);
            second.requests += spec.requests;
            second.failed_requests += spec.failed_requests;
            second.iterations += spec.iterations;
            second.vus = spec.vus;
            second.vus_max = spec.vus_max;
            for latency in spec.latencies {
                set.timeline.record_latency(spec.unix_second, latency);
            }
        }
        set.overflow_samples = overflow_samples;
        set
    })
}

fn merged(a: &MetricSet, b: &MetricSet) -> MetricSet {
    let mut merged = a.clone();
    merged.merge(b);
    merged
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn merge_is_commutative(a in metric_set(), b in metric_set()) {
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
    }

    #[test]
    fn merge_is_associative(a in metric_set(), b in metric_set(), c in metric_set()) {
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
    }

    #[test]
    fn merging_an_empty_set_changes_nothing(a in metric_set()) {
        prop_assert_eq!(&merged(&a, &MetricSet::new()), &a);
        prop_assert_eq!(&merged(&MetricSet::new(), &a), &a);
    }

    #[test]
    fn shard_results_round_trip(
        metrics in metric_set(),
        shard in any::<u32>(),
        first_sample_us in prop::option::of(any::<i64>()),
        last_sample_us in prop::option::of(any::<i64>()),
        samples in any::<u64>(),
        rejected_lines in any::<u64>(),
    ) {
        let result = ShardResult { shard, metrics, first_sample_us, last_sample_us, samples, rejected_lines };
        let decoded = decode_shard_result(&encode_shard_result(&result)).expect("own encoding decodes");
        prop_assert_eq!(decoded, result);
    }
}

/// Sample values in millionths of a millisecond: 0.001 ms to 60 s, with six
/// decimals, in shapes that stress different parts of the histogram.
fn latency_samples() -> impl Strategy<Value = Vec<i64>> {
    const LOW: i64 = 1_000;
    const HIGH: i64 = 60_000 * VALUE_SCALE;
    let log_uniform = (0.0f64..1.0).prop_map(|u| (LOW as f64 * (HIGH as f64 / LOW as f64).powf(u)) as i64);
    let uniform = LOW..=HIGH;
    // Lognormal-ish around 50 ms: what a real endpoint looks like.
    let realistic = (0.0f64..1.0, 0.0f64..1.0).prop_map(|(u, v)| {
        let normal = (-2.0 * (1.0 - u).ln()).sqrt() * (std::f64::consts::TAU * v).cos();
        ((50.0 * (normal * 0.8).exp()) * VALUE_SCALE as f64).clamp(LOW as f64, HIGH as f64) as i64
    });
    // A few distinct values repeated: ties across many ranks.
    let clustered = prop::sample::select(vec![LOW, 1_234_567, 1_234_568, 99_999_999, 100_000_000, HIGH]);
    let bimodal = prop_oneof![LOW..10 * VALUE_SCALE, 1_000 * VALUE_SCALE..=HIGH];
    let size = 1..5000usize;
    prop_oneof![
        proptest::collection::vec(log_uniform, size.clone()),
        proptest::collection::vec(uniform, size.clone()),
        proptest::collection::vec(realistic, size.clone()),
        proptest::collection::vec(clustered, size.clone()),
        proptest::collection::vec(bimodal, size),
    ]
}

/// k6's percentile over raw samples: linear interpolation between ranks.
/// Returns the value and the larger of the two samples it lies between.
fn exact_percentile(sorted_ms: &[f64], pct: f64) -> (f64, f64) {
    let position = pct / 100.0 * (sorted_ms.len() - 1) as f64;
    let (low, high) = (sorted_ms[position.floor() as usize], sorted_ms[position.ceil() as usize]);
    (low + (high - low) * (position - position.floor()), high.max(low))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn merged_percentiles_match_exact_ones(
        samples in latency_samples(),
        shard_count in 1usize..=8,
        assignment in proptest::collection::vec(any::<prop::sample::Index>(), 5000),
    ) {
        let mut shards: Vec<Aggregate> = (0..shard_count).map(|_| Aggregate::new(true)).collect();
        for (i, &value) in samples.iter().enumerate() {
            shards[assignment[i].index(shard_count)].record(value, i as i64);
        }
        let mut merged = Aggregate::new(true);
        for shard in &shards {
            merged.merge(shard);
        }

        let mut sorted = samples.clone();
        sorted.sort_unstable();
        let sorted_ms: Vec<f64> = sorted.iter().map(|&v| v as f64 / VALUE_SCALE as f64).collect();
        let n = samples.len();
        let sum: i128 = samples.iter().map(|&v| i128::from(v)).sum();
        prop_assert_eq!(merged.count(), n as u64);
        prop_assert_eq!(merged.min(), Some(sorted_ms[0]));
        prop_assert_eq!(merged.max(), Some(sorted_ms[n - 1]));
        prop_assert_eq!(merged.sum(), sum as f64 / VALUE_SCALE as f64);
        prop_assert_eq!(merged.avg(), Some(sum as f64 / n as f64 / VALUE_SCALE as f64));

        for pct in [0.0, 1.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0] {
            let (exact, larger_neighbour) = exact_percentile(&sorted_ms, pct);
            let got = merged.percentile(pct).unwrap();
            let tolerance = (larger_neighbour / 1000.0).max(1e-6);
            prop_assert!(
                (got - exact).abs() <= tolerance,
                "p({pct}) = {got}, exact {exact}, tolerance {tolerance}, n = {n}"
            );
        }
        prop_assert_eq!(merged.percentile(0.0), Some(sorted_ms[0]));
        prop_assert_eq!(merged.percentile(100.0), Some(sorted_ms[n - 1]));
    }
}
