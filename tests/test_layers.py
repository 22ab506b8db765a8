"""The homeostatic layers: their rules act as stated, the gradient path, eval freezing, state_dict."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from bridge.core.errors import UserError
from bridge.fitting.rules import Dynamics, Equilibrium, Rule, Scaling
from bridge.learning.layers import (
    ColumnEiLinear,
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
from bridge.learning.nets import NetSpec, make_net
from models.dale import dale_forward


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
    layer = SynapticScaling(nn.Linear(10, 3, bias=False), target=1.0, gain=0.2 / 64, tau_samples=10)  # 0.2 per batch
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


# ---- DaleLinear and ColumnEiLinear against linclab/ltlwdp (Cornford et al. 2021), item by item ----

def _reference_shunt_forward(x, w_ex, w_ix, w_ei, alpha, g, b):
    """EiDenseWithShunt.forward of ltlwdp (ariamis/ei_models.py), transposed layout and all."""
    ze, zi = w_ex @ x.T, w_ix @ x.T
    z_hat = ze - w_ei @ zi
    gamma = ((torch.exp(alpha)[None, :] * w_ei) @ zi) + 1e-8
    return (g[:, None] * ((1 / gamma) * z_hat) + b[:, None]).T


def test_dale_forward_is_the_references_with_alpha_per_inhibitory_unit():
    torch.manual_seed(0)
    layer = DaleLinear(6, 4, n_inhibitory=2).double()
    assert layer.alpha.shape == (2,)  # one per inhibitory unit (reference: 1 x n_i)
    with torch.no_grad():
        layer.alpha.copy_(torch.tensor([0.3, -0.7]))
        layer.g.copy_(torch.tensor([1.0, 0.5, 2.0, 1.5]))
        layer.b.copy_(torch.tensor([0.1, -0.2, 0.0, 0.3]))
        layer.w_ei.copy_(torch.rand(4, 2, dtype=torch.float64))
    x = torch.rand(3, 6, dtype=torch.float64)
    params = [p.detach() for p in (layer.w_ex, layer.w_ix, layer.w_ei, layer.alpha, layer.g, layer.b)]
    torch.testing.assert_close(layer(x), _reference_shunt_forward(x, *params), rtol=1e-12, atol=0)
    # a worked unit by hand: E unit 0, sample 0
    z_i = params[1] @ x[0]
    shunt = sum(params[2][0, j] * math.exp(params[3][j]) * z_i[j] for j in range(2)) + 1e-8
    by_hand = params[4][0] * (params[0][0] @ x[0] - params[2][0] @ z_i) / shunt + params[5][0]
    assert abs(layer(x)[0, 0].item() - by_hand.item()) < 1e-12


@pytest.mark.parametrize("first, d", [(True, 784), (False, 500)])
def test_dale_excitatory_init_is_exponential_of_the_references_scale(first, d):
    torch.manual_seed(0)
    layer = DaleLinear(d, 400, first=first)
    scale = math.sqrt(1 / (2 * d)) if first else math.sqrt(2 * math.pi / (d * (2 * math.pi - 1)))
    for weights in (layer.w_ex, layer.w_ix):  # W_IX from the same distribution (n_i > 1)
        w = weights.detach()
        assert (w >= 0).all()
        assert abs(w.mean().item() / scale - 1) < 0.02 and abs(w.std().item() / scale - 1) < 0.03  # Exp: mean = std
    assert layer.n_inhibitory == 40
    torch.testing.assert_close(layer.w_ei.detach(), torch.full((400, 40), 1 / 40))
    torch.testing.assert_close(layer.alpha.detach(), torch.full((40,), math.log(math.sqrt((2 * math.pi - 1) / d))))
    torch.testing.assert_close(layer.g.detach(), torch.ones(400))
    torch.testing.assert_close(layer.b.detach(), torch.zeros(400))


def test_dale_single_inhibitory_unit_takes_the_mean_of_the_excitatory_rows():
    torch.manual_seed(0)
    readout = DaleLinear(50, 10, n_inhibitory=1)
    torch.testing.assert_close(readout.w_ix.detach(), readout.w_ex.detach().mean(0, keepdim=True))
    torch.testing.assert_close(readout.w_ei.detach(), torch.ones(10, 1))


@pytest.mark.parametrize("corrected", [True, False])
def test_dale_gradient_scales_are_the_corrected_sgd_or_none(corrected):
    torch.manual_seed(0)
    layer = DaleLinear(100, 20, corrected=corrected)
    x = torch.rand(32, 100)
    layer(x).sum().backward()
    params = {n: p.detach().clone().requires_grad_() for n, p in layer.named_parameters()}
    dale_forward(x, params["w_ex"], params["w_ix"], params["w_ei"], params["alpha"], params["g"],
                 params["b"]).sum().backward()
    n_e, d = 20, 100
    scale = {"w_ix": 1 / n_e**0.5, "w_ei": 1 / d, "alpha": 1 / (n_e**0.5 * d)} if corrected else {}
    for name, param in layer.named_parameters():
        torch.testing.assert_close(param.grad, params[name].grad * scale.get(name, 1.0))


def test_dale_projection_clamps_weights_and_gain_but_not_alpha_or_bias():
    torch.manual_seed(0)
    layer = DaleLinear(100, 20)
    with torch.no_grad():
        for p in layer.parameters():
            p.fill_(-1.0)
    layer.after_step()
    for p in (layer.w_ex, layer.w_ix, layer.w_ei, layer.g):
        assert (p == 0).all()
    assert (layer.alpha == -1).all() and (layer.b == -1).all()


def test_dale_net_is_the_references_layout():
    torch.manual_seed(0)
    net = make_net(NetSpec.of("dale", depth=4, width=50))
    layers = [m for m in net.modules() if isinstance(m, DaleLinear)]
    assert [(m.in_features, m.out_features, m.n_inhibitory, m.first) for m in layers] == [
        (784, 50, 5, True), (50, 50, 5, False), (50, 50, 5, False), (50, 10, 1, False)]
    assert isinstance(net.blocks[-1], DaleLinear)  # linear logits: no ReLU on the readout
    assert all(isinstance(block[-1], nn.ReLU) for block in net.blocks[:-1])
    assert all(not m.corrected for m in make_net(NetSpec.of("dale-uncorrected")).modules() if isinstance(m, DaleLinear))


def test_column_ei_init_signs_bias_and_projection():
    torch.manual_seed(0)
    hidden = ColumnEiLinear(550, 300)
    assert hidden.n_inhibitory == 50 and (hidden.sign[:500] == 1).all() and (hidden.sign[500:] == -1).all()
    sigma_e = math.sqrt(1 / ((2 * math.pi - 1) / (2 * math.pi) * (500 + 500**2 / 50)))
    w = hidden.weight.detach()
    assert abs(w[:, :500].mean().item() / sigma_e - 1) < 0.02
    assert abs(w[:, 500:].mean().item() / (10 * sigma_e) - 1) < 0.03
    x = torch.rand(4, 550)
    torch.testing.assert_close(hidden(x), x @ (w * hidden.sign).T)
    first = ColumnEiLinear(784, 100, first=True, input_mean=0.286)
    assert first.n_inhibitory == 0 and abs(first.weight.mean().item() - 1 / 28) < 0.002
    torch.testing.assert_close(first.bias.detach(), torch.full((100,), -784 / 28 * 0.286))
    with torch.no_grad():
        hidden.weight.fill_(-1.0)
    hidden.after_step()
    assert (hidden.weight == 0).all()


def test_cornford_init_is_he_normal_with_gain_one_then_two():
    torch.manual_seed(0)
    net = make_net(NetSpec(width=500, init="cornford"))
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    stds = [m.weight.std().item() for m in linears]
    assert abs(stds[0] / math.sqrt(1 / 784) - 1) < 0.02
    assert abs(stds[1] / math.sqrt(2 / 500) - 1) < 0.02 and abs(stds[2] / math.sqrt(2 / 500) - 1) < 0.1
    assert all((m.bias == 0).all() for m in linears)


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


def test_homeostatic_leaky_passes_its_state_explicitly_and_the_gradient_through():
    layer = HomeostaticLeaky(4)
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


# ---- a fitted scaling rule as a layer ----

def make_scaling_rule(tau: float = 2.0, omega: float = 1.0, target: float = 9.0) -> Rule:
    """A scaling rule as bridge.fit writes it (numbers chosen by hand)."""
    scaling = Scaling(rate=1 / tau, rate_ci=(0.4, 0.6), target=target, target_ci=(8.5, 9.5), omega=omega,
                      r2=0.9, weight_ratio_cv=0.0, configured_target=10.0)
    return Rule(name="hand-scaling", kind="scaling", model="synaptic-scaling", transfer="lif", targets={},
                dynamics=Dynamics(tau_gain=tau, tau_bias=tau, sample_dt=0.001), fit_quality={}, source_runs=[],
                model_params={}, equations="", scaling=scaling)


@pytest.mark.parametrize("omega", [0.0, 1.0])
def test_scaling_layer_from_rule_places_the_fitted_poles(omega):
    layer = SynapticScaling.from_rule(make_scaling_rule(omega=omega), nn.Linear(4, 3))
    tau_samples, omega_sample = 2.0 / 0.001, omega * 0.001
    assert layer.target == pytest.approx(0.9)  # 1 x fitted / configured goal
    k_p = 1 / tau_samples if omega == 0 else 2 / tau_samples
    k_i = 0.0 if omega == 0 else omega_sample**2 + 1 / tau_samples**2
    assert layer.gain * layer.target == pytest.approx(k_p)
    assert layer.integral_gain * layer.target == pytest.approx(k_i)
    assert layer.tau_samples == 1.0


def test_scaling_rule_exports_loads_and_trains_in_a_net(tmp_path):
    from bridge.learning.export import ExportConfig, export_torch

    rule = make_scaling_rule()
    lines = export_torch(rule, tmp_path / "scaling.pt", ExportConfig(units=6, inputs=5))
    assert lines[0] == "from bridge.learning.layers import SynapticScaling"
    loaded = SynapticScaling.load(tmp_path / "scaling.pt")
    fresh = SynapticScaling.from_rule(rule, nn.Linear(5, 6))
    assert loaded.config == fresh.config and loaded.layer.weight.shape == (6, 5)
    torch.manual_seed(0)
    net = make_net(NetSpec.of("fitted:hand-scaling", width=8), in_shape=(1, 4, 4), rule=rule)
    layers = [m for m in net.modules() if isinstance(m, SynapticScaling)]
    assert len(layers) == 2 and all(m.name == "hand-scaling" for m in layers)
    before = layers[0].layer.weight.detach().clone()
    x = torch.rand(32, 16)
    for _ in range(5):
        net(x).sum().backward()
        for m in layers:
            m.after_step()
    assert not torch.equal(before, layers[0].layer.weight)  # the rule scaled the weights
    with pytest.raises(UserError, match="no \\+affine form"):
        make_net(NetSpec.of("fitted:hand-scaling+affine", width=8), in_shape=(1, 4, 4), rule=rule)
    with pytest.raises(UserError, match="rate nets"):
        make_net(NetSpec.of("fitted:hand-scaling", neuron="spiking", width=8), in_shape=(1, 4, 4), rule=rule)


@pytest.mark.parametrize("fn", [torch.sigmoid, torch.tanh])
@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2, 2)])
def test_fused_gain_bias_transfer_equals_plain_autograd(fn, shape):
    """f(a x + b) as one addcmul and an in-place activation: the same output and input gradient
    as autograd on the plain expression (gain and bias held), in float64 and by gradcheck."""
    from bridge.learning.layers._units import gain_bias_transfer, per_unit

    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64, requires_grad=True)
    gain, bias = torch.rand(4, dtype=torch.float64) + 0.5, torch.randn(4, dtype=torch.float64)
    grad = torch.randn(*shape, dtype=torch.float64)
    fused = gain_bias_transfer(x, gain, bias, fn)
    (fused_grad,) = torch.autograd.grad(fused, x, grad)
    plain = fn(per_unit(gain, x) * x + per_unit(bias, x))
    (plain_grad,) = torch.autograd.grad(plain, x, grad)
    torch.testing.assert_close(fused, plain)
    torch.testing.assert_close(fused_grad, plain_grad)
    assert torch.autograd.gradcheck(lambda t: gain_bias_transfer(t, gain, bias, fn), (x,))


def test_ip_with_adam_steps_is_torch_adam_on_the_rules_drives():
    """ip-<rule>-adam: gain and bias take torch.optim.Adam's steps with the rule's drives as the
    ascent direction (the gradient -<A>, -<B>), at the rule's rate."""
    torch.manual_seed(3)
    layer = IntrinsicPlasticity(6, "infomax-adam", eta=0.05).train()
    gain, bias = (torch.nn.Parameter(t.clone()) for t in (layer.gain, layer.bias))
    adam = torch.optim.Adam([gain, bias], lr=0.05)
    for _ in range(3):
        x = torch.randn(16, 6) * 2 + 1
        y = layer.transfer(gain.detach() * x + bias.detach())
        weighted, bias_sum, samples = layer.rule.torch_drive_sums(x, y)
        gain.grad, bias.grad = -(weighted / samples + gain.detach().reciprocal()), -bias_sum / samples
        adam.step()
        layer(x)
        torch.testing.assert_close(layer.gain, gain.detach())
        torch.testing.assert_close(layer.bias, bias.detach())
    assert "infomax-adam" in repr(layer) and int(layer.adam_steps) == 3
    plain = IntrinsicPlasticity(6, "infomax", eta=0.05).train()
    plain(x)
    assert not torch.allclose(plain.gain, layer.gain)  # another update than the Euler step


def test_oja_post_reads_the_activations_output():
    from models.oja import oja_delta

    torch.manual_seed(4)
    layer = OjaLinear(5, 3, eta_oja=0.1, post=nn.Tanh()).train()
    x = torch.randn(8, 5)
    before = layer.weight.detach().clone()
    y = layer(x)
    layer.after_step()
    expected = before + 0.1 * oja_delta(x, torch.tanh(y.detach()), before)
    torch.testing.assert_close(layer.weight.detach(), expected)
    assert "post=Tanh()" in repr(layer)
