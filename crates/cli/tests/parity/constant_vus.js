// constant-vus: 3 VUs for 2 s, each iteration 0.4 s: 5 iterations a VU.
import http from 'k6/http';
import { sleep } from 'k6';

export const options = {
  scenarios: { steady: { executor: 'constant-vus', vus: 3, duration: '2s' } },
  thresholds: { iterations: ['count>=12', 'count<=18'], vus: ['value==3'], vus_max: ['value==3'] },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/`);
  sleep(0.4);
}
