// Two scenarios with their own exec functions, env and tags, and
// thresholds on each scenario's sub-metrics.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: {
    browse: {
      executor: 'per-vu-iterations', vus: 3, iterations: 4, exec: 'browse',
      env: { PAGE: 'json' }, tags: { flow: 'browse' },
    },
    buy: {
      executor: 'shared-iterations', vus: 3, iterations: 6, exec: 'buy', startTime: '200ms',
      env: { ITEM: '2' }, tags: { flow: 'buy' },
    },
  },
  thresholds: {
    'iterations{scenario:browse}': ['count==12'],
    'iterations{scenario:buy}': ['count==6'],
    'http_reqs{flow:buy}': ['count==6'],
    'checks{scenario:buy}': ['rate==1'],
  },
};

export function browse() {
  check(http.get(`${__ENV.BASE_URL}/${__ENV.PAGE}`), { 'browsed': (r) => r.status === 200 });
}

export function buy() {
  const res = http.post(`${__ENV.BASE_URL}/echo`, JSON.stringify({ item: Number(__ENV.ITEM) }), {
    headers: { 'Content-Type': 'application/json' },
  });
  check(res, { 'bought item 2': (r) => r.json('json.item') === 2 });
}
