// Custom metrics of all four types, with thresholds on tagged sub-metrics,
// and one declared metric that never gets a sample.
import { Counter, Gauge, Rate, Trend } from 'k6/metrics';
import exec from 'k6/execution';

const orders = new Counter('orders');
const basket = new Gauge('basket_size');
const paid = new Rate('paid');
const think = new Trend('think_time', true);
const unused = new Counter('never_counted');

export const options = {
  scenarios: { s: { executor: 'shared-iterations', vus: 3, iterations: 30 } },
  thresholds: {
    orders: ['count==60'],
    'orders{kind:gift}': ['count==20'],
    paid: ['rate>0.5'],
    basket_size: ['value>0'],
    think_time: ['p(95)<100', 'max<=90'],
    'think_time{kind:gift}': ['avg>0'],
    never_counted: ['count==0'],
  },
};

export default function () {
  const i = exec.scenario.iterationInTest;
  const kind = i % 3 === 0 ? 'gift' : 'plain';
  orders.add(2, { kind });
  basket.add(1 + (i % 4));
  paid.add(i % 4 !== 0);
  think.add(10 + (i % 9) * 10, { kind });
}
