// A login flow against the built-in application endpoints: a form POST,
// Basic auth, JSON, and redirects (each hop is a request).
import http from 'k6/http';
import { check, group } from 'k6';

export const options = {
  scenarios: { s: { executor: 'per-vu-iterations', vus: 3, iterations: 2 } },
  thresholds: { http_reqs: ['count==48'], http_req_failed: ['rate==0'], checks: ['rate==1'] },
};

export default function () {
  group('login', () => {
    const form = http.post(`${__ENV.BASE_URL}/echo`, { user: 'ada', pass: 's&cret' });
    check(form, { 'form echoed': (r) => r.json('form.pass') === 's&cret' });
    const auth = http.get(`http://ada:secret@${__ENV.BASE_URL.replace('http://', '')}/basic-auth/ada/secret`);
    check(auth, { 'basic auth': (r) => r.status === 200 });
  });
  group('browse', () => {
    const followed = http.get(`${__ENV.BASE_URL}/redirect/3`);
    check(followed, { 'redirects followed': (r) => r.status === 200 && r.url.endsWith('/redirect/0') });
    const to = http.get(`${__ENV.BASE_URL}/redirect-to?url=/json`);
    check(to, { 'landed on json': (r) => r.json('user.name') === 'Ada' });
  });
}
