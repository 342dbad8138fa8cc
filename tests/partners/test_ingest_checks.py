"""Ingestion's cheap validator tests agree with Django's validators: a value they pass, the validators accept."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import DecimalValidator
from hypothesis import given
from hypothesis import strategies as st

from imports.ingest import _decimal_fits

DECIMALS = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.builds(Decimal, st.integers(min_value=-(10**16), max_value=10**16)).map(lambda number: number.scaleb(-2)),
    st.tuples(st.integers(min_value=0, max_value=10**15), st.integers(min_value=-6, max_value=4)).map(
        lambda pair: Decimal(pair[0]).scaleb(pair[1])
    ),
)


@given(value=DECIMALS, max_digits=st.integers(min_value=1, max_value=18), places=st.integers(min_value=0, max_value=6))
def test_decimal_fits_is_what_decimal_validator_accepts(value: Decimal, max_digits: int, places: int) -> None:
    places = min(places, max_digits)
    try:
        DecimalValidator(max_digits, places)(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert _decimal_fits(value, max_digits, places) is accepted
