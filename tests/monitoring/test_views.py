"""Monitoring pages: the overview and the dataset-version comparison."""

import pytest

pytestmark = pytest.mark.django_db


def test_overview_links_to_the_comparison(client, scientist):
    client.force_login(scientist)
    page = client.get("/monitoring/").content.decode()
    assert "/monitoring/compare/" in page and "Compare dataset versions" in page


def test_comparison_page_ranks_drifted_features_and_charts_them(client, scientist, versions):
    client.force_login(scientist)
    reference, shifted, _ = versions
    response = client.get("/monitoring/compare/", {"reference": reference.pk, "current": shifted.pk})
    assert response.status_code == 200
    page = response.content.decode()
    assert "scores-chart" in page and "distribution-chart" in page
    ranked = response.context["ranked"]
    assert ranked[0].feature == "annual_income" and ranked[0].drifted  # the shifted column comes first
    assert response.context["feature"] == "annual_income"
    chosen = client.get(
        "/monitoring/compare/",
        {"reference": reference.pk, "current": shifted.pk, "feature": "region", "numeric": "psi"},
    )
    assert chosen.context["feature"] == "region"
    assert {f.method for f in chosen.context["ranked"] if f.kind == "numeric" and f.status == "ok"} == {"psi"}


def test_comparison_page_explains_bad_choices(client, scientist, versions):
    client.force_login(scientist)
    assert "Choose two dataset versions" in client.get("/monitoring/compare/", {"reference": "x"}).content.decode()
    bad = client.get(
        "/monitoring/compare/", {"reference": versions[0].pk, "current": versions[1].pk, "numeric": "chisquare"}
    )
    assert bad.status_code == 200 and "chisquare is not a numeric method" in bad.content.decode()


def test_the_empty_comparison_page_says_what_to_do(client, scientist):
    client.force_login(scientist)
    page = client.get("/monitoring/compare/").content.decode()
    assert "No dataset versions yet" in page


def test_people_without_a_role_cannot_compare(client, nobody):
    client.force_login(nobody)
    assert client.get("/monitoring/compare/").status_code == 403
