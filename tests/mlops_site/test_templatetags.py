from mlops_site.templatetags.ui import number, percent


def test_number_formats_numbers_and_leaves_dates_alone():
    assert number(1234567.0) == "1,234,567"
    assert number(3.14159265) == "3.1416"
    assert number(0.000123456) == "0.0001235"
    assert number("2025-01-01T00:00:00") == "2025-01-01T00:00:00"
    assert number(None) == "—"


def test_percent_keeps_small_shares_visible():
    assert percent(0.005) == "0.5%"
    assert percent(0.0286) == "2.9%"
    assert percent(0) == "0%"
