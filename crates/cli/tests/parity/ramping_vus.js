// ramping-vus: up to 6 VUs and back down.
import http from 'k6/http';
import { sleep } from 'k6';

export const options = {
  scenarios: {
    ramp: {
      executor: 'ramping-vus',
      startVUs: 0,
      stages: [
        { duration: '1s', target: 6 },
        { duration: '1s', target: 6 },
        { duration: '500ms', target: 0 },
      ],
      gracefulRampDown: '1s',
    },
  },
  thresholds: { vus_max: ['value==6'], http_req_failed: ['rate==0'] },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/`);
  sleep(0.2);
}
