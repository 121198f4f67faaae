// handleSummary() gets the whole run's data, in k6's shape, and writes
// standard output and a file; the grid must give it the same numbers.
import http from 'k6/http';
import { check, group } from 'k6';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 3, iterations: 4 } },
  thresholds: { 'http_reqs{name:home}': ['count==12'], checks: ['rate==1'] },
  summaryTrendStats: ['avg', 'p(99.9)', 'count'],
};

export default function () {
  group('home', () => {
    check(http.get(`${__ENV.BASE_URL}/`, { tags: { name: 'home' } }), { 'is 200': (r) => r.status === 200 });
  });
}

function checks(group) {
  const own = group.checks.map((c) => `${c.path} ${c.id} ${c.passes}/${c.fails}`);
  return own.concat(...group.groups.map(checks));
}

export function handleSummary(data) {
  // k6 builds its objects from Go maps: their key order means nothing.
  const thresholds = [];
  for (const [name, metric] of Object.entries(data.metrics)) {
    for (const [expression, outcome] of Object.entries(metric.thresholds || {})) {
      thresholds.push(`${name}: ${expression} ${outcome.ok}`);
    }
  }
  thresholds.sort();
  const digest = {
    metrics: Object.keys(data.metrics).sort(),
    trend_stats: Object.keys(data.metrics.http_req_duration.values).sort(),
    durations: data.metrics.http_req_duration.values.count,
    iterations: data.metrics.iterations.values.count,
    requests: data.metrics.http_reqs.values.count,
    checks: checks(data.root_group),
    thresholds,
    options: Object.keys(data.options).sort().map((key) => [key, data.options[key]]),
    tty: [typeof data.state.isStdOutTTY, typeof data.state.isStdErrTTY, typeof data.state.testRunDurationMs],
  };
  return {
    stdout: `iterations=${digest.iterations} requests=${digest.requests}\n`,
    'digest.json': JSON.stringify(digest, null, 2),
  };
}
