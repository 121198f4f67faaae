// Thresholds on tagged sub-metrics that cross: k6 and the grid exit 99.
import http from 'k6/http';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 3, iterations: 4 } },
  thresholds: {
    'http_req_duration{name:slow}': ['p(95)<10'],
    'http_reqs{status:404}': ['count<1'],
    'http_reqs{status:200}': ['count==12'],
  },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/slow?delay=30ms`, { tags: { name: 'slow' } });
  http.get(`${__ENV.BASE_URL}/missing?status=404`, { tags: { name: 'missing' } });
}
