// shared-iterations: 30 iterations shared by 6 VUs, split over the shards.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: { shared: { executor: 'shared-iterations', vus: 6, iterations: 30, maxDuration: '20s' } },
  thresholds: { http_reqs: ['count==30'], checks: ['rate==1'] },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/`);
  check(res, { 'status is 200': (r) => r.status === 200 });
}
