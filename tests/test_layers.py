"""The homeostatic layers: their rules act as stated, the gradient path, eval freezing, state_dict."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from bridge.core.errors import UserError
from bridge.fitting.rules import Dynamics, Equilibrium, Rule
from bridge.learning.layers import (
    DaleLinear,
    FittedHomeostasis,
    HomeostaticLeaky,
    IntrinsicPlasticity,
    IntrinsicPlasticity2d,
    OjaLinear,
    SynapticScaling,
    after_step,
    plastic_modules,
)
from bridge.learning.layers.spiking import net_params


def make_rule(model: str = "rate-ip-triesch", transfer: str = "sigmoid", tau_gain: float = 0.05,
              tau_bias: float = 0.05, **model_params) -> Rule:
    """A fitted rule as bridge.fit writes it (numbers chosen by hand)."""
    equilibrium = Equilibrium(
        p=1.0, c=1.5, s=1.0, d=-1.0, p_ci=(0.9, 1.1), c_ci=(1.4, 1.6), s_ci=(0.9, 1.1),
        d_ci=(-1.1, -0.9), r2_gain=0.99, r2_bias=0.99, r2=0.99, bn_gamma=1.5, bn_beta=-1.0,
        bn_score=0.99, verdict="acts as BatchNorm",
    )
    return Rule(
        name="hand", kind="intrinsic", model=model, transfer=transfer,
        targets={"mu_target": 0.1}, dynamics=Dynamics(tau_gain=tau_gain, tau_bias=tau_bias, sample_dt=0.001),
        fit_quality={}, source_runs=[], model_params=model_params, equations="", equilibrium=equilibrium,
    )


def plastic_layers() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "ip-triesch": IntrinsicPlasticity(6, "triesch", eta=0.05),
        "ip-infomax-affine": IntrinsicPlasticity(6, "infomax", eta=0.05, affine=True),
        "ip2d-gaussian": IntrinsicPlasticity2d(6, "gaussian", eta=0.05),
        "fitted-equilibrium": FittedHomeostasis.from_rule(make_rule(), 6, "equilibrium"),
        "fitted-online": FittedHomeostasis.from_rule(make_rule(), 6, "online"),
        "scaling": SynapticScaling(nn.Linear(5, 6)),
        "oja": OjaLinear(5, 6, eta_oja=0.05),
        "dale": DaleLinear(5, 6),
        "homeostatic-leaky": HomeostaticLeaky(6, net_params(10)),
    }


def _drive(name: str, layer: nn.Module, steps: int = 5) -> None:
    """A few training-mode forward passes (and post-step plasticity) with shifted input."""
    opt = torch.optim.SGD(layer.parameters(), lr=0.01) if list(layer.parameters()) else None
    for _ in range(steps):
        if name.startswith("ip2d"):
            x = 2 + 3 * torch.randn(4, 6, 3, 3)
        elif name in ("scaling", "oja", "dale"):
            x = torch.rand(8, 5) * 4
        else:
            x = 2 + 3 * torch.randn(8, 6)
        out = layer(x)
        if isinstance(out, tuple):
            out = out[0]
        if opt:
            opt.zero_grad()
            out.sum().backward()
            opt.step()
        after_step(plastic_modules(layer))


def _plastic_state(layer: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in layer.state_dict().items()}


@pytest.mark.parametrize("name", list(plastic_layers()))
def test_state_changes_in_training_and_round_trips_through_state_dict(name):
    layer = plastic_layers()[name].train()
    before = _plastic_state(layer)
    _drive(name, layer)
    after = _plastic_state(layer)
    assert any(not torch.equal(before[k], after[k]) for k in before), "training must change the state"
    twin = plastic_layers()[name]
    twin.load_state_dict(layer.state_dict())
    assert all(torch.equal(twin.state_dict()[k], v) for k, v in after.items())


@pytest.mark.parametrize("name", list(plastic_layers()))
def test_eval_mode_freezes_plastic_state(name):
    layer = plastic_layers()[name]
    _drive(name, layer.train(), steps=2)
    frozen = _plastic_state(layer.eval())
    with torch.no_grad():
        for _ in range(3):
            width = 5 if name in ("scaling", "oja", "dale") else 6
            layer(torch.rand(4, 6, 3, 3) if name.startswith("ip2d") else torch.rand(4, width))
    after_step(plastic_modules(layer))
    assert all(torch.equal(frozen[k], v) for k, v in layer.state_dict().items())


def test_ip_gradient_flows_through_the_activation_with_gain_and_bias_held():
    layer = IntrinsicPlasticity(3, "infomax", eta=0.1).double()
    layer.gain.fill_(1.5)
    layer.bias.fill_(0.2)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    y = layer(x)  # training mode: y with (a, b) held, then the rule's step
    y.sum().backward()
    a, b = torch.full((3,), 1.5, dtype=torch.float64), torch.full((3,), 0.2, dtype=torch.float64)
    assert not torch.equal(layer.gain, a)
    expected = a * (1 - torch.tanh(a * x.detach() + b) ** 2)
    torch.testing.assert_close(x.grad, expected)


def test_ip_rule_drives_output_toward_its_target():
    torch.manual_seed(0)
    layer = IntrinsicPlasticity(4, "triesch", eta=0.01)
    for _ in range(3000):
        layer(3 + 2 * torch.randn(16, 4))
    layer.eval()
    y = layer(3 + 2 * torch.randn(4096, 4))
    # Triesch's rule targets an exponential output of mean mu = 0.1 (std 0.1 as well)
    torch.testing.assert_close(y.mean(0), torch.full((4,), 0.1), atol=0.02, rtol=0)
    assert (layer.gain > 0).all()


def test_ip_rejects_unknown_rules_and_targets():
    with pytest.raises(UserError, match="unknown IP rule"):
        IntrinsicPlasticity(3, "nope")
    with pytest.raises(UserError, match="no target parameter"):
        IntrinsicPlasticity(3, "infomax", mu_target=0.2)


@pytest.mark.parametrize("batch", [1, 32])
def test_fitted_equilibrium_reaches_the_fitted_map_at_any_batch_size(batch):
    torch.manual_seed(0)
    rule = make_rule(tau_gain=0.5, tau_bias=0.5)  # running statistics over 500 samples
    layer = FittedHomeostasis.from_rule(rule, 3, "equilibrium")
    mu, sigma = torch.tensor([0.0, 2.0, -1.0]), torch.tensor([1.0, 0.5, 3.0])
    for _ in range(20000 // batch):
        layer(mu + sigma * torch.randn(batch, 3))
    eq = rule.equilibrium
    gain = eq.c * sigma ** (-eq.p)
    torch.testing.assert_close(layer.gain, gain, rtol=0.1, atol=0)
    tolerance = 0.15 * (1 + gain * mu.abs()).max().item()
    torch.testing.assert_close(layer.bias, eq.d - eq.s * gain * mu, rtol=0, atol=tolerance)


def test_fitted_online_runs_the_source_rule_at_the_fitted_rates():
    rule = make_rule(tau_gain=0.1, tau_bias=0.1)  # eta = sample_dt / tau = 0.01 for both
    fitted = FittedHomeostasis.from_rule(rule, 4, "online").double()
    fitted.gain.fill_(1.0)
    fitted.bias.zero_()
    ip = IntrinsicPlasticity(4, "triesch", eta=0.01).double()
    torch.manual_seed(1)
    for _ in range(50):
        x = torch.randn(1, 4, dtype=torch.float64)  # batch size 1: online learning
        fitted(x)
        ip(x)
    torch.testing.assert_close(fitted.gain, ip.gain)
    torch.testing.assert_close(fitted.bias, ip.bias)


def test_fitted_online_needs_a_rate_ip_source():
    with pytest.raises(UserError, match="online execution needs"):
        FittedHomeostasis.from_rule(make_rule(model="lif-ip", transfer="lif"), 4, "online")


def test_fitted_save_and_load_give_the_same_layer(tmp_path):
    rule = make_rule()
    layer = FittedHomeostasis.from_rule(rule, 5)
    layer(torch.randn(64, 5) * 2 + 1)
    path = layer.save(tmp_path / "fitted.pt", rule)
    loaded = FittedHomeostasis.load(path)
    x = torch.randn(7, 5)
    torch.testing.assert_close(loaded.eval()(x), layer.eval()(x))
    assert torch.load(path, weights_only=True)["rule"]["name"] == "hand"
    with pytest.raises(UserError, match="not a saved FittedHomeostasis"):
        FittedHomeostasis.load(tmp_path / "missing.pt")


def test_synaptic_scaling_moves_activity_to_target_and_keeps_relative_weights():
    torch.manual_seed(0)
    layer = SynapticScaling(nn.Linear(10, 3, bias=False), target=1.0, gain=0.2, tau_samples=10)
    start = layer.layer.weight.detach().clone()
    x = torch.rand(64, 10) * 5
    for _ in range(300):
        layer(x)
        layer.after_step()
    activity = layer(x).abs().mean(0)
    torch.testing.assert_close(activity, torch.ones(3), atol=0.05, rtol=0)
    ratio = layer.layer.weight.detach() / start
    torch.testing.assert_close(ratio, ratio[:, :1].expand_as(ratio))  # one factor per unit


def test_oja_term_alone_makes_the_rows_an_orthonormal_principal_subspace():
    torch.manual_seed(0)
    basis = torch.linalg.qr(torch.randn(8, 8))[0]
    x = (torch.randn(2000, 8) * torch.tensor([3.0, 2.5, 0.3, 0.2, 0.2, 0.1, 0.1, 0.1])) @ basis.T
    layer = OjaLinear(8, 2, bias=False, eta_oja=0.01)
    for start in range(0, 20000, 50):
        layer(x[start % 2000:start % 2000 + 50])
        layer.after_step()
    w = layer.weight.detach()
    torch.testing.assert_close(w @ w.T, torch.eye(2), atol=0.05, rtol=0)
    top = basis[:, :2]
    captured = torch.linalg.matrix_norm(w @ top) ** 2 / 2  # 1: the rows span the top-2 subspace
    assert captured > 0.95


def test_dale_layer_initialisation_and_projection_after_a_step():
    torch.manual_seed(0)
    layer = DaleLinear(100, 20)
    assert layer.n_inhibitory == 2
    assert (layer.w_ex >= 0).all() and (layer.w_ix >= 0).all()
    torch.testing.assert_close(layer.w_ei.detach(), torch.full((20, 2), 0.5))
    x = torch.rand(256, 100)
    z = layer(x)
    assert z.shape == (256, 20) and torch.isfinite(z).all()
    assert abs(z.mean().item()) < 0.5  # subtractive inhibition balances excitation at init
    layer(x).square().sum().backward()
    with torch.no_grad():
        for p in layer.parameters():
            p.sub_(10 * p.grad.sign())  # a step that crosses zero everywhere
    layer.after_step()
    for p in (layer.w_ex, layer.w_ix, layer.w_ei, layer.g):
        assert (p >= 0).all()


def test_dale_inhibitory_gradient_scales_are_cornfords():
    torch.manual_seed(0)
    layer = DaleLinear(100, 20)
    x = torch.rand(32, 100)
    layer(x).sum().backward()
    scaled = {n: p.grad.clone() for n, p in layer.named_parameters()}
    from models.dale import dale_forward

    params = {n: p.detach().clone().requires_grad_() for n, p in layer.named_parameters()}
    dale_forward(x, params["w_ex"], params["w_ix"], params["w_ei"], params["alpha"], params["g"],
                 params["b"]).sum().backward()
    torch.testing.assert_close(scaled["w_ix"], params["w_ix"].grad / 20 ** 0.5)
    torch.testing.assert_close(scaled["w_ei"], params["w_ei"].grad / 100)
    torch.testing.assert_close(scaled["alpha"], params["alpha"].grad / (20 ** 0.5 * 100))
    torch.testing.assert_close(scaled["w_ex"], params["w_ex"].grad)


def _rates(layer: HomeostaticLeaky, mean: torch.Tensor, sequences: int, steps: int = 20) -> torch.Tensor:
    """Spikes per step of each neuron over ``sequences`` batches of noisy input around ``mean``."""
    total = 0
    for _ in range(sequences):
        state = layer.init_state(16, mean.expand(16, -1))
        for _ in range(steps):
            spikes, state = layer(mean * (1 + torch.randn(16, mean.shape[0])), state)
            total = total + spikes.mean(0)
    return total / (sequences * steps)


def test_homeostatic_leaky_pulls_rates_toward_the_target():
    torch.manual_seed(0)
    mean = torch.tensor([0.05, 0.2, 0.6])  # weak, medium and strong drive
    layer = HomeostaticLeaky(3, net_params(20))
    before = _rates(copy.deepcopy(layer).eval(), mean, 10)
    _rates(layer.train(), mean, 200)
    after = _rates(layer.eval(), mean, 10)
    target = layer.params.r_target * layer.dt  # 0.1 spikes per step
    assert (before - target).abs().max() > 0.3
    assert (after - target).abs().max() < 0.08, after


def test_homeostatic_leaky_is_an_snntorch_leaky_with_pinned_reset_and_explicit_state():
    import snntorch as snn

    layer = HomeostaticLeaky(4)
    assert isinstance(layer, snn.Leaky)
    assert layer.reset_mechanism == "zero"
    assert layer.init_hidden is False
    x = torch.rand(2, 4, requires_grad=True)
    spikes, state = layer(3 * x, layer.init_state(2, x))
    spikes, state = layer(3 * x, state)
    (spikes.sum() + state.v.sum()).backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_homeostatic_leaky_from_rule_takes_the_fitted_model_params():
    rule = make_rule(model="lif-ip", transfer="lif", r_target=20.0, eta_theta=2.0)
    layer = HomeostaticLeaky.from_rule(rule, 4)
    assert layer.params.r_target == 20.0 and layer.params.eta_theta == 2.0
    with pytest.raises(UserError, match="needs 'lif-ip'"):
        HomeostaticLeaky.from_rule(make_rule(), 4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("name", ["ip-triesch", "fitted-equilibrium", "homeostatic-leaky"])
def test_plastic_layers_on_cuda_match_the_cpu(name):
    cpu, gpu = plastic_layers()[name].double(), plastic_layers()[name].double().cuda()
    torch.manual_seed(0)
    for _ in range(5):
        x = 2 + 3 * torch.randn(8, 6, dtype=torch.float64)
        cpu(x)
        gpu(x.cuda())
    for key, value in cpu.state_dict().items():
        torch.testing.assert_close(gpu.state_dict()[key].cpu(), value)
