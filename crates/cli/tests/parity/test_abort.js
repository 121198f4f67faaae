// test.abort() stops the whole test with k6's exit code 108.
import http from 'k6/http';
import exec from 'k6/execution';
import { sleep } from 'k6';

export const options = { scenarios: { s: { executor: 'constant-vus', vus: 3, duration: '20s' } } };

export default function () {
  http.get(`${__ENV.BASE_URL}/`);
  if (exec.scenario.iterationInTest === 5) {
    exec.test.abort('the backend is down');
  }
  sleep(0.2);
}
