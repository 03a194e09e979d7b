"""The M/M/4 queue of benches/common/mm4.rs written in plain SimPy, for the speed comparison.

Four servers share one FIFO queue (a simpy.Resource of capacity 4), exponential service of
10 ms, Poisson arrivals at 320/s (utilization 0.8). Each customer's time in system is kept,
as capsim keeps every latency, and the mean and p99 are printed with the rate so that the two
simulators can be seen to compute the same queue: the exact mean for M/M/4 at rho 0.8 is
17.46 ms (Erlang C: 59.6% wait, 7.46 ms on average).

usage: python mm4.py CUSTOMERS [SEED]
prints: simpy customers N wall S rate R customers/s mean_ms M p99_ms P
"""

import random
import sys
import time

import simpy

RATE = 320.0
MEAN_SERVICE = 0.010
SERVERS = 4


def customer(env, servers, rng, latencies):
    arrived = env.now
    with servers.request() as req:
        yield req
        yield env.timeout(rng.expovariate(1.0 / MEAN_SERVICE))
    latencies.append(env.now - arrived)


def source(env, servers, rng, n, latencies):
    for _ in range(n):
        yield env.timeout(rng.expovariate(RATE))
        env.process(customer(env, servers, rng, latencies))


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    rng = random.Random(seed)
    env = simpy.Environment()
    servers = simpy.Resource(env, capacity=SERVERS)
    latencies = []
    t0 = time.perf_counter()
    env.process(source(env, servers, rng, n, latencies))
    env.run()
    wall = time.perf_counter() - t0
    latencies.sort()
    mean_ms = 1e3 * sum(latencies) / len(latencies)
    p99_ms = 1e3 * latencies[int(0.99 * len(latencies))]
    print(
        f"simpy customers {len(latencies)} wall {wall:.2f} rate {len(latencies) / wall:.0f} "
        f"customers/s mean_ms {mean_ms:.2f} p99_ms {p99_ms:.2f}"
    )


if __name__ == "__main__":
    main()
