// Load script for recording real k6 CSV output against server.py (see record.sh).
import http from 'k6/http';
import { check, group, sleep } from 'k6';
import { Trend, Counter } from 'k6/metrics';

const BASE = __ENV.BASE || 'http://127.0.0.1:8765';
const itemsSize = new Trend('items_size');
const logins = new Counter('logins');

export const options = {
  scenarios: {
    browse: { executor: 'constant-vus', vus: Number(__ENV.VUS || 4), duration: __ENV.DURATION || '10s' },
  },
  thresholds: {
    'http_req_duration{name:login}': ['p(95)<500'],
    'http_req_failed': ['rate<0.5'],
  },
};

export function setup() {
  http.get(`${BASE}/setup`);
}

export default function () {
  group('auth, login', () => {
    const res = http.post(`${BASE}/login`, '{"user":"a"}', { tags: { name: 'login', flow: 'auth' } });
    check(res, { 'status is 200, logged in': (r) => r.status === 200 });
    logins.add(1);
  });
  group('browse', () => {
    const res = http.get(`${BASE}/items?page=${__ITER % 5}`, { tags: { name: 'items', page: String(__ITER % 5) } });
    check(res, { 'items ok': (r) => r.status === 200 });
    itemsSize.add(res.body ? res.body.length : 0);
    http.get(`${BASE}/missing`, { tags: { name: 'missing' } });
  });
  if (__ITER % 10 === 0) {
    http.get(`${BASE}/slow`, { tags: { name: 'slow' } });
  }
  // Think time, only for small recordings (the test fixture).
  if (__ENV.SLEEP) sleep(Number(__ENV.SLEEP));
}
