// exec.test.fail(): the run goes on but fails with k6's exit code 110.
import http from 'k6/http';
import exec from 'k6/execution';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 3, iterations: 3 } },
  thresholds: { http_reqs: ['count==9'] },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/`);
  if (exec.scenario.iterationInTest === 4) {
    exec.test.fail('one order was lost');
  }
}
