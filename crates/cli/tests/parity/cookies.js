// Cookies: the VU's jar keeps what the server sets and sends it back.
import http from 'k6/http';
import { check } from 'k6';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 3, iterations: 2 } },
  thresholds: { checks: ['rate==1'] },
};

export default function () {
  http.get(`${__ENV.BASE_URL}/cookies/set?session=s${__VU}`);
  const res = http.get(`${__ENV.BASE_URL}/cookies`);
  check(res, { 'the jar sent the session back': (r) => r.json('cookies.session') === `s${__VU}` });
  const jar = http.cookieJar();
  jar.set(`${__ENV.BASE_URL}/`, 'extra', 'yes');
  check(http.get(`${__ENV.BASE_URL}/cookies`), { 'a cookie set by the script': (r) => r.json('cookies.extra') === 'yes' });
}
