// ramping-arrival-rate: from 0 to 30 iterations a second and back.
import http from 'k6/http';

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      preAllocatedVUs: 6,
      maxVUs: 12,
      stages: [
        { duration: '1s', target: 30 },
        { duration: '1s', target: 30 },
        { duration: '1s', target: 0 },
      ],
    },
  },
  thresholds: { iterations: ['count>=55', 'count<=65'], http_req_failed: ['rate==0'] },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/`);
}
