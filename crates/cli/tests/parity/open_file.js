// open() in the init context: the archive carries the file to every shard.
import http from 'k6/http';
import { check } from 'k6';
import encoding from 'k6/encoding';
import exec from 'k6/execution';

const users = JSON.parse(open('./users.json'));

export const options = {
  scenarios: { s: { executor: 'shared-iterations', vus: 3, iterations: 9 } },
  thresholds: { checks: ['rate==1'] },
};

export default function () {
  const { user, password } = users[exec.scenario.iterationInTest % users.length];
  const res = http.get(`${__ENV.BASE_URL}/basic-auth/${user}/${password}`, {
    headers: { Authorization: `Basic ${encoding.b64encode(`${user}:${password}`)}` },
  });
  check(res, { 'logged in': (r) => r.status === 200 && r.json('user') === user });
}
