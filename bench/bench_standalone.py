"""10 cpp_standalone runs of one lif-ip sweep structure: re-run with run_args vs rebuild (target >= 5x).

Re-run: build once (``build_on_run=False``), then ``device.run(run_args={group.mu: ...})`` for
each of 10 input means. Rebuild: a fresh ``device.reinit()`` + build per run. Prints wall
times and their ratio. Usage: .venv/bin/python bench/bench_standalone.py [runs]
"""

from __future__ import annotations

import shutil
import sys
import time

from _timing import Ratio, print_rows


def network(n: int = 25):
    from brian2 import Network, SpikeMonitor, second

    from models.lif_ip import LifIPParams, build
    from sims.ip import ou_input

    group = build(n, LifIPParams(), ou_input("I"), dt=0.001 * second, name="adapt")
    group.namespace["tau_in"] = 0.01 * second
    group.sigma = 0.5
    spikes = SpikeMonitor(group)
    return Network(group, spikes), group, spikes


def rerun(runs: int) -> float:
    from brian2 import device, second

    from sims.backend import brian_backend, process_dir

    start = time.perf_counter()
    with brian_backend("cpp_standalone"):
        net, group, spikes = network()
        net.run(5 * second)
        device.build(directory=str(process_dir("cpp_standalone")), run=False)
        for k in range(runs):
            device.run(run_args={group.mu: 0.5 + 0.1 * k})
            assert len(spikes.i) > 0
    return time.perf_counter() - start


def rebuild(runs: int) -> float:
    from brian2 import second

    from sims.backend import brian_backend

    start = time.perf_counter()
    for k in range(runs):
        with brian_backend("cpp_standalone") as finish:
            net, group, _ = network()
            group.mu = 0.5 + 0.1 * k
            net.run(5 * second)
            finish()
    return time.perf_counter() - start


def ratios(runs: int = 10) -> list[Ratio]:
    if shutil.which("g++") is None and shutil.which("c++") is None:
        return []  # cpp_standalone needs a C++ compiler
    fast, slow = rerun(runs), rebuild(runs)
    return [Ratio("brian2 standalone", f"{runs} rebuilds / {runs} re-runs with run_args", slow / fast, 5,
                  at_least=True, detail=f"cpp_standalone: {slow:.1f} / {fast:.1f} s")]


if __name__ == "__main__":
    print_rows(ratios(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
