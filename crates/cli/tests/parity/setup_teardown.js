// setup() runs once and every VU gets its data; teardown() runs once.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 3, iterations: 2 } },
  thresholds: { checks: ['rate==1'] },
};

export function setup() {
  const res = http.post(`${__ENV.BASE_URL}/echo`, JSON.stringify({ token: 'abc' }), {
    headers: { 'Content-Type': 'application/json' },
  });
  return { token: res.json('json.token') };
}

export default function (data) {
  check(data, { 'setup data arrived': (d) => d.token === 'abc' });
}

export function teardown(data) {
  check(data, { 'teardown has the data': (d) => d.token === 'abc' });
  http.get(`${__ENV.BASE_URL}/teardown`);
}
