// externally-controlled: VUs are added and removed through k6's REST API
// while it runs, which one grid cannot split. The grid refuses it.
import http from 'k6/http';

export const options = {
  scenarios: { remote: { executor: 'externally-controlled', vus: 2, maxVUs: 6, duration: '2s' } },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/`);
}
