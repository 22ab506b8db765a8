"""Information potential and Renyi's quadratic entropy (models.information) against closed forms."""

from __future__ import annotations

import math

import pytest
import torch

from models.information import histogram_entropy, information_potential, renyi_entropy


def test_information_potential_of_gaussian_samples_matches_the_closed_form():
    torch.manual_seed(0)
    std = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    y = torch.randn(3000, 3, dtype=torch.float64) * std
    kernel = 0.3
    # y_i - y_j ~ N(0, 2 std^2); E G(d, 2 kernel^2) = 1 / sqrt(2 pi (2 kernel^2 + 2 std^2))
    expected = 1 / torch.sqrt(2 * math.pi * (2 * kernel**2 + 2 * std**2))
    torch.testing.assert_close(information_potential(y, kernel), expected, rtol=0.03, atol=0)
    torch.testing.assert_close(renyi_entropy(y, kernel), -torch.log(expected), rtol=0.02, atol=0)


def test_identical_samples_have_the_kernel_peak_and_spread_lowers_the_potential():
    assert information_potential(torch.zeros(50), 0.5).item() == pytest.approx(1 / math.sqrt(2 * math.pi * 0.5))
    narrow, wide = torch.randn(500) * 0.1, torch.randn(500) * 3
    assert information_potential(narrow, 0.2) > information_potential(wide, 0.2)


def test_many_units_are_chunked_without_changing_the_answer():
    torch.manual_seed(1)
    y = torch.randn(300, 400)
    per_unit = torch.stack([information_potential(y[:, k], 0.5) for k in range(0, 400, 37)])
    torch.testing.assert_close(information_potential(y, 0.5)[::37], per_unit)


def test_histogram_entropy_of_a_uniform_variable_is_log_bins():
    y = torch.rand(100000, 2)
    torch.testing.assert_close(histogram_entropy(y, bins=16), torch.full((2,), math.log(16)), atol=0.01, rtol=0)


def test_kernel_width_must_be_positive():
    with pytest.raises(ValueError, match="kernel_sigma"):
        information_potential(torch.randn(10), 0.0)
