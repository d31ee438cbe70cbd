from decimal import Decimal

import pytest

from invoice_archive.rules import (
    CategoryPolicy,
    CategoryRule,
    PolicyError,
    policy_from_settings,
)

from .conftest import POLICY_SETTINGS


def test_parses_categories():
    policy = policy_from_settings({**POLICY_SETTINGS, "sqlalchemy.url": "sqlite://", "rules.other": "x"})
    assert sorted(policy.categories) == ["misc", "office", "travel"]
    travel = policy.get("travel")
    assert travel.kinds == {"digital_normal", "vat_e_normal", "railway_ticket"}
    assert travel.max_total == Decimal("5000.00")
    assert travel.label == "差旅费"
    office = policy.get("office")
    assert office.kinds == {"digital_normal", "digital_special", "vat_e_normal", "vat_e_special"}
    assert office.max_total is None
    misc = policy.get("misc")
    assert misc.kinds is None and misc.max_total is None
    assert "travel" in policy and "meals" not in policy
    assert policy.to_dict()["travel"]["max_total"] == "5000.00"


def test_empty_settings_give_an_empty_policy():
    assert policy_from_settings({}).categories == {}


def test_multiline_ini_values_and_thousands_separators():
    policy = policy_from_settings({
        "rules.category.travel.kinds": "\ndigital_normal\nrailway_ticket\n",
        "rules.category.travel.max_total": "12,000.50",
    })
    assert policy.get("travel").kinds == {"digital_normal", "railway_ticket"}
    assert policy.get("travel").max_total == Decimal("12000.50")


@pytest.mark.parametrize(
    ("settings", "key", "fragment"),
    [
        ({"rules.category.travel.kind": "digital_normal"}, "rules.category.travel.kind", "unknown attribute"),
        ({"rules.category.travel.kinds": "digital_normal taxi_receipt"}, "rules.category.travel.kinds",
         "taxi_receipt"),
        ({"rules.category.travel.kinds": "  "}, "rules.category.travel.kinds", "empty"),
        ({"rules.category.travel.max_total": "five thousand"}, "rules.category.travel.max_total", "not an amount"),
        ({"rules.category.travel.max_total": "-1"}, "rules.category.travel.max_total", "non-negative"),
        ({"rules.category.travel.max_total": "10.001"}, "rules.category.travel.max_total", "two decimal"),
        ({"rules.category.travel.max_total": "Infinity"}, "rules.category.travel.max_total", "non-negative"),
        ({"rules.category.travel.max_total": 5000.0}, "rules.category.travel.max_total", "float"),
        ({"rules.category.Travel.kinds": "digital_normal"}, "rules.category.Travel.kinds", "lower-case"),
        ({"rules.category.kinds": "digital_normal"}, "rules.category.kinds", "<category>.<attribute>"),
    ],
)
def test_clear_errors(settings, key, fragment):
    with pytest.raises(PolicyError) as info:
        policy_from_settings(settings)
    assert info.value.key == key
    assert fragment in str(info.value)


def test_rules_built_in_code_are_checked_too():
    with pytest.raises(PolicyError):
        CategoryRule("x", kinds=frozenset({"nope"}))
    with pytest.raises(PolicyError):
        CategoryRule("x", max_total=Decimal(-5))
    assert CategoryPolicy({"x": CategoryRule("x")}).get("x").display == "x"
