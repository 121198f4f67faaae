// constant-arrival-rate: 30 iterations a second for 2 s, whatever the VUs do.
import http from 'k6/http';

export const options = {
  scenarios: {
    arrivals: { executor: 'constant-arrival-rate', rate: 30, timeUnit: '1s', duration: '2s', preAllocatedVUs: 6, maxVUs: 12 },
  },
  thresholds: { iterations: ['count>=57', 'count<=61'], dropped_iterations: ['count<3'] },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/?delay=20ms`);
}
