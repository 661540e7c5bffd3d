"""What tokens cost: a price per model, and the one function that turns tokens into cost.

    PODIUM_PRICES   per model, per million tokens, JSON:
                    {"gpt-4o": {"input_per_million": 2.5, "output_per_million": 10}}

A model is priced by the name the endpoint answered with (what the read model records),
or else by the longest priced name it extends with a `-` (a dated version such as
`gpt-4o-mini-2024-07-18` takes the price of `gpt-4o-mini`). Costs are in whatever currency
the prices are given in. A model without a price has no cost (None), never a cost of
zero: an unpriced model must not look free.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, NoDecode

from podium_common.settings import service_config

ENV = "PODIUM_PRICES"
EXAMPLE = '{"gpt-4o": {"input_per_million": 2.5, "output_per_million": 10}}'
PER = 1_000_000
# Costs are rounded here: sums of float products carry noise far below any price's precision.
DIGITS = 9


class Price(BaseModel):
    """One model's price per million input (prompt) and output (completion) tokens."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_million: float = Field(ge=0, allow_inf_nan=False)
    output_per_million: float = Field(ge=0, allow_inf_nan=False)


_TABLE = TypeAdapter(dict[str, Price])


def parse(value: object) -> dict[str, Price]:
    """A price table from its JSON text (or already decoded); a bad one raises ValueError
    naming `PODIUM_PRICES`, what is wrong and where."""
    if isinstance(value, str):
        if not value.strip():
            return {}
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ValueError(f"{ENV} is not JSON ({error}); expected e.g. {EXAMPLE}") from None
    try:
        return _TABLE.validate_python(value)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, item['loc'])) or 'the table'}: {item['msg']}"
            for item in error.errors(include_url=False)
        )
        raise ValueError(f"{ENV} is invalid: {problems}; expected e.g. {EXAMPLE}") from None


PriceTable = Annotated[dict[str, Price], NoDecode, BeforeValidator(parse)]


def cost(
    prices: Mapping[str, Price], model: str | None, prompt: int, completion: int
) -> float | None:
    """What `prompt` input and `completion` output tokens of `model` cost; None when the
    model has no price (and used tokens: no tokens cost nothing, priced or not)."""
    if not prompt and not completion:
        return 0.0
    price = price_of(prices, model)
    if price is None:
        return None
    total = prompt * price.input_per_million + completion * price.output_per_million
    return round(total / PER, DIGITS)


def price_of(prices: Mapping[str, Price], model: str | None) -> Price | None:
    """The model's price: its own, else that of the longest name it extends with `-`."""
    if model is None:
        return None
    if model in prices:
        return prices[model]
    extended = [name for name in prices if model.startswith(f"{name}-")]
    return prices[max(extended, key=len)] if extended else None


def total(costs: Iterable[float | None]) -> float | None:
    """The sum of costs; None when one of them is unknown (an unpriced model was used)."""
    known = list(costs)
    if any(item is None for item in known):
        return None
    return round(sum(item for item in known if item is not None), DIGITS)


class _PricesEnvironment(BaseSettings):
    model_config = service_config()

    prices: PriceTable = Field(default_factory=dict)


def prices_from_env() -> dict[str, Price]:
    """`PODIUM_PRICES` from the environment."""
    return _PricesEnvironment().prices
