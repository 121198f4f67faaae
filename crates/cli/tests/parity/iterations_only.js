// `iterations` without `vus`: k6 run gives it one VU.
import http from 'k6/http';

export const options = { iterations: 5, thresholds: { http_reqs: ['count==5'] } };

export default function () {
  http.get(`${__ENV.BASE_URL}/`);
}
