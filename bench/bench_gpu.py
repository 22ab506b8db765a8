"""The GPU path (device cuda): ``make bench-gpu`` (and ``make bench``) where torch sees a CUDA device; skipped without.

Every layer ratio of ``bench_layers`` and ``bench_spiking`` and the training-loop ratios of
``bench_train_loop`` on the GPU (fewer, shorter timing rounds: the GPU is the machine's own);
the epoch time of a 10 x 1024 tanh MLP on all 60,000 Fashion-MNIST images with the data resident
on the GPU (batch 64; none, BatchNorm, infomax IP; target < 1 s); and the epoch of the spiking
net of ``snn-vs-rate`` (4 x 128 LIF, 10 time steps, batch 64, 10,000 images) on the GPU against
the same machine's CPU (target <= 1x).

    .venv/bin/python bench/bench_gpu.py
"""

from __future__ import annotations

import torch
from _timing import Ratio, print_rows
from bench_layers import CONV_SHAPE, SHAPES, layer_ratios
from bench_spiking import ratios as spiking_ratios
from bench_train_loop import loop_ratio, no_progress, timed

from bridge.learning.data import fashion_mnist_dir, load
from bridge.learning.train import TrainConfig, build, make_optimizer, train_epoch

GPU_TIMING = {"rounds": 3, "min_run_time": 0.1}
MLP_EPOCH_TARGET = 1.0  # seconds, 10 x 1024 MLP, all 60k images (issue 14)


def epoch_seconds(config: TrainConfig, epochs: int = 2) -> float:
    """The best of ``epochs`` epochs of our training loop (after one to warm up), data on the config's device."""
    data = load(config.dataset).subset(config.n_train, 100).to(config.device)
    net = build(config, data).to(config.device)
    optimizer, generator = make_optimizer(config, net), torch.Generator().manual_seed(0)

    def run() -> None:
        train_epoch(net, optimizer, data, config.batch_size, generator, config.grad_samples, no_progress)

    run()
    return min(timed(run, config.device) for _ in range(epochs))


def mlp_epochs() -> list[Ratio]:
    rows = []
    for norm in ("none", "bn", "ip-infomax"):
        config = TrainConfig(n_train=60000, depth=10, width=1024, norm=norm, device="cuda")
        seconds = epoch_seconds(config)
        rows.append(Ratio("gpu epoch", f"10 x 1024 tanh MLP, norm {norm}, 60k images", seconds, MLP_EPOCH_TARGET,
                          unit=" s", detail="batch 64, data resident on the GPU, our train_epoch"))
    return rows


def spiking_epoch() -> Ratio:
    config = TrainConfig(neuron="spiking", n_train=10000, depth=4, width=128, time_steps=10, device="cuda")
    gpu, cpu = epoch_seconds(config), epoch_seconds(config.model_copy(update={"device": "cpu"}), epochs=1)
    return Ratio("gpu epoch", "spiking 4 x 128 LIF, 10 steps: GPU / this machine's CPU", gpu / cpu, 1.0,
                 detail=f"10,000 images, batch 64: {gpu:.2f} / {cpu:.2f} s ({torch.get_num_threads()} CPU threads); "
                        f"all 60k: {6 * gpu:.1f} s on the GPU")


def ratios() -> list[Ratio]:
    if not torch.cuda.is_available() or fashion_mnist_dir() is None:
        print("   no CUDA device (or no Fashion-MNIST): the GPU rows are skipped")
        return []
    rows = [row for shape in (*SHAPES, CONV_SHAPE) for row in layer_ratios(shape, "cuda", **GPU_TIMING)]
    rows += spiking_ratios("cuda", **GPU_TIMING)
    rows += [loop_ratio("fashion-mnist", 64, 60000, rounds=2, device="cuda"),
             loop_ratio("fashion-mnist", 1, 2000, rounds=2, device="cuda")]
    return rows + mlp_epochs() + [spiking_epoch()]


if __name__ == "__main__":
    print_rows(ratios())
