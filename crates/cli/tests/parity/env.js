// __ENV: -e values reach every shard's init code and VUs.
import http from 'k6/http';
import { check } from 'k6';

const iterations = parseInt(__ENV.ITERATIONS || '3', 10);

export const options = {
  scenarios: { s: { executor: 'shared-iterations', vus: 3, iterations } },
  thresholds: { iterations: [`count==${iterations}`], checks: ['rate==1'] },
};

export default function () {
  const res = http.get(`${__ENV.BASE_URL}/echo?team=${__ENV.TEAM}`);
  check(res, { 'the team came through': (r) => r.json('query.team') === 'checkout' });
}
