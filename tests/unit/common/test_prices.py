"""The price table (PODIUM_PRICES) and the one function that turns tokens into cost."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from podium_common.prices import Price, cost, prices_from_env, total

PRICES = {
    "big": Price(input_per_million=2.5, output_per_million=10),
    "free": Price(input_per_million=0, output_per_million=0),
}


def test_tokens_cost_their_price_per_million() -> None:
    assert cost(PRICES, "big", 1_000_000, 0) == 2.5
    assert cost(PRICES, "big", 0, 1_000_000) == 10
    assert cost(PRICES, "big", 1234, 567) == pytest.approx((1234 * 2.5 + 567 * 10) / 1e6)
    assert cost(PRICES, "free", 999, 999) == 0


def test_a_dated_version_takes_the_price_of_the_longest_name_it_extends() -> None:
    prices = {**PRICES, "big-mini": Price(input_per_million=1, output_per_million=1)}
    assert cost(prices, "big-2024-07-18", 1_000_000, 0) == 2.5
    assert cost(prices, "big-mini-2024-07-18", 1_000_000, 0) == 1
    assert cost(prices, "bigger", 1_000_000, 0) is None


def test_an_unpriced_model_has_no_cost_unless_it_used_no_tokens() -> None:
    assert cost(PRICES, "unknown", 10, 1) is None
    assert cost(PRICES, None, 10, 1) is None
    assert cost(PRICES, "unknown", 0, 0) == 0


def test_a_total_is_unknown_when_one_part_is() -> None:
    assert total([0.1, 0.2, 0.0]) == pytest.approx(0.3)
    assert total([0.1, None]) is None
    assert total([]) == 0


def test_the_table_is_read_from_podium_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PODIUM_PRICES", '{"big": {"input_per_million": 2.5, "output_per_million": 10}}'
    )
    assert prices_from_env() == {"big": PRICES["big"]}
    monkeypatch.delenv("PODIUM_PRICES")
    assert prices_from_env() == {}


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("{big", "PODIUM_PRICES is not JSON"),
        ('["big"]', "PODIUM_PRICES is invalid: the table"),
        ('{"big": {"input_per_million": 1}}', "big.output_per_million: Field required"),
        ('{"big": {"input_per_million": -1, "output_per_million": 1}}', "big.input_per_million"),
        ('{"big": {"input": 1, "output_per_million": 1}}', "big.input: Extra inputs"),
        ('{"big": {"input_per_million": "NaN", "output_per_million": 1}}', "finite number"),
    ],
)
def test_a_bad_table_is_refused_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, says: str
) -> None:
    monkeypatch.setenv("PODIUM_PRICES", value)
    with pytest.raises(ValidationError) as refused:
        prices_from_env()
    assert "PODIUM_PRICES" in str(refused.value)
    assert says in str(refused.value)
