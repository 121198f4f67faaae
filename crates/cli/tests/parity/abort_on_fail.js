// abortOnFail: the error rate crosses at once and stops the whole test.
import http from 'k6/http';
import { sleep } from 'k6';

export const options = {
  scenarios: { s: { executor: 'constant-vus', vus: 3, duration: '20s' } },
  thresholds: { http_req_failed: [{ threshold: 'rate<0.5', abortOnFail: true }] },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/?status=500`);
  sleep(0.1);
}
