// The example `loadgrid demo` runs against the built-in target.
// An ordinary k6 script: nothing in it knows about shards.
import http from 'k6/http';
import { check, group, sleep } from 'k6';

const BASE = __ENV.BASE_URL || 'http://127.0.0.1:8089';

export const options = {
  scenarios: {
    shoppers: { executor: 'constant-vus', vus: 8, duration: __ENV.DURATION || '10s' },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{name:home}': ['p(95)<100'],
    'http_req_duration{name:login}': ['p(95)<250'],
    checks: ['rate>0.99'],
  },
};

// Runs once for the whole grid; every shard's VUs get its data.
export function setup() {
  const res = http.get(`${BASE}/auth/token?size=32`, { tags: { name: 'token' } });
  return { token: `demo-${res.status}` };
}

export default function (data) {
  group('browse', () => {
    const home = http.get(`${BASE}/?delay=2ms&jitter=3ms&size=2048`, { tags: { name: 'home' } });
    check(home, { 'home is 200': (r) => r.status === 200 });
    http.get(`${BASE}/products?delay=5ms&jitter=10ms&size=8192`, { tags: { name: 'products' } });
  });
  group('checkout', () => {
    const login = http.post(`${BASE}/login?delay=20ms&jitter=20ms`, JSON.stringify({ token: data.token }), {
      tags: { name: 'login' },
    });
    check(login, { 'login is 200': (r) => r.status === 200 });
  });
  sleep(0.1);
}
