#!/usr/bin/env bash
# capsim against plain SimPy on the same M/M/4 queue (rho 0.8), on this machine, in one run:
# PAIRS interleaved rounds (default 5) of one capsim replication of 3 million customers
# (`examples/memory mm4`), a SimPy run of 400,000, and the same queue as a bare loop on
# capsim's event queue and random streams (`examples/memory bare`: no service model, the
# ceiling capsim's rate can approach), each on one core; prints each round's rates and the
# medians and ratios. SimPy (pinned) is installed into target/simpy the first time.
#
#   benches/simpy/compare.sh          # or PAIRS=9 benches/simpy/compare.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x target/simpy/bin/python ] || ! target/simpy/bin/python -c 'import simpy' 2>/dev/null; then
  python3 -m venv target/simpy
  target/simpy/bin/pip install --quiet --disable-pip-version-check simpy==4.1.2
fi
cargo build --release --quiet --example memory
pairs=${PAIRS:-5}
capsim_rates=()
simpy_rates=()
bare_rates=()
for ((i = 1; i <= pairs; i++)); do
  c=$(target/release/examples/memory mm4 3000000 | sed -E 's/.* ([0-9.]+) M requests\/s.*/\1/')
  s=$(target/simpy/bin/python benches/simpy/mm4.py 400000 "$i" | sed -E 's/.* rate ([0-9]+) customers\/s.*/\1/')
  b=$(target/release/examples/memory bare 3000000 | sed -E 's/.* ([0-9.]+) M requests\/s.*/\1/')
  capsim_rates+=("$c")
  simpy_rates+=("$s")
  bare_rates+=("$b")
  echo "round $i: capsim $c M customers/s, SimPy $(awk -v s="$s" 'BEGIN { printf "%.3f", s / 1e6 }') M customers/s, bare loop $b M customers/s"
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
mc=$(median "${capsim_rates[@]}")
ms=$(median "${simpy_rates[@]}")
mb=$(median "${bare_rates[@]}")
awk -v c="$mc" -v s="$ms" -v b="$mb" 'BEGIN { printf "median: capsim %.2f M customers/s, SimPy %.3f M customers/s: capsim %.0fx faster; the bare loop %.2f M customers/s (capsim at %.0f%% of it)\n", c, s / 1e6, c * 1e6 / s, b, 100 * c / b }'
