// test.abort() in setup(): no iteration runs and teardown() does not.
import http from 'k6/http';
import exec from 'k6/execution';

export const options = { scenarios: { s: { executor: 'per-vu-iterations', vus: 3, iterations: 2 } } };

export function setup() {
  exec.test.abort('no database');
}

export default function () {
  http.get(`${__ENV.BASE_URL}/`);
}

export function teardown() {
  http.get(`${__ENV.BASE_URL}/teardown`);
}
