// http.batch(): three requests an iteration, in parallel.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: { s: { executor: 'shared-iterations', vus: 3, iterations: 9 } },
  thresholds: { http_reqs: ['count==27'], 'http_reqs{name:batch-json}': ['count==9'] },
};

export default function () {
  const responses = http.batch([
    ['GET', `${__ENV.BASE_URL}/`, null, { tags: { name: 'batch-root' } }],
    ['GET', `${__ENV.BASE_URL}/json`, null, { tags: { name: 'batch-json' } }],
    ['POST', `${__ENV.BASE_URL}/echo`, 'hello', { tags: { name: 'batch-echo' } }],
  ]);
  check(responses, { 'all 200': (rs) => rs.every((r) => r.status === 200) });
}
