// Nested groups and checks, some failing on a fixed share of iterations.
import http from 'k6/http';
import { check, group } from 'k6';
import exec from 'k6/execution';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 6, iterations: 5 } },
  thresholds: { checks: ['rate>0.8'], 'checks{check:every fifth fails}': ['rate>0.7'] },
};

export default function () {
  const i = exec.scenario.iterationInTest;
  check(null, { 'at the root': () => true });
  group('shop', () => {
    const res = http.get(`${__ENV.BASE_URL}/json`);
    check(res, { 'status is 200': (r) => r.status === 200, 'every fifth fails': () => i % 5 !== 0 });
    group('cart', () => {
      check(res, { 'has three items': (r) => r.json().items.length === 3 });
    });
  });
  group('empty group', () => {});
}
