// per-vu-iterations: each of 6 VUs runs 4 iterations.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: { each: { executor: 'per-vu-iterations', vus: 6, iterations: 4 } },
  thresholds: { iterations: ['count==24'], 'http_req_duration{scenario:each}': ['max<5000'] },
};

export default function () {
  check(http.get(`${__ENV.BASE_URL}/json`), { 'has items': (r) => r.json().items.length === 3 });
}
