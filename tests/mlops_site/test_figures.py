"""Charts are built without plotly's per-property validation (`mlops_site.figures`), and drawn in the browser from
JSON: the JSON must be exactly what validated figures give, on every page with charts."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from experiments import services as experiment_services
from experiments.models import Run
from mlops_site import figures
from monitoring import services as monitoring_services
from tests.builders import PASSWORD, inputs_of, serve

pytestmark = pytest.mark.django_db

FIGURE = re.compile(r'<script type="application/json" id="([^"]+)">(.*?)</script>', re.S)


def _figures(client, url: str) -> dict:
    response = client.get(url)
    assert response.status_code == 200, url
    found = FIGURE.findall(response.content.decode())
    assert len({name for name, _ in found}) == len(found), f"{url}: two charts share an id"
    return {name: json.loads(text) for name, text in found}


def _as_drawn(found: dict) -> dict:
    """The figures as static/js/site.js hands them to plotly.js: a template name replaced by the page's copy."""
    templates = {name.removeprefix("plotly-template-"): spec for name, spec in found.items() if "template" in name}
    drawn = {}
    for name, spec in found.items():
        if name.endswith("-figure"):
            template = spec["layout"].get("template")
            if isinstance(template, str):
                spec["layout"]["template"] = templates[template]
            drawn[name] = spec
    return drawn


@pytest.fixture
def pages(deployed, scientist, django_capture_on_commit_callbacks):
    deployment, version, dataset_version = deployed
    with django_capture_on_commit_callbacks(execute=True):  # a second run, for the compare page
        experiment_services.start_training(
            version.run.experiment,
            dataset_version,
            actor=scientist,
            target="defaulted",
            algorithm="logistic_regression",
            seed=2,
        )
    serve(deployment, inputs_of(version, dataset_version).head(40))
    with django_capture_on_commit_callbacks(execute=True):
        monitoring_services.run_monitor(deployment.monitor, now=timezone.now())
    runs = "&".join(f"run={r.pk}" for r in Run.objects.all())
    return [
        "/",
        f"/datasets/versions/{dataset_version.pk}/",
        f"/runs/{version.run_id}/",
        f"/runs/compare/?{runs}",
        f"/monitoring/monitors/{deployment.monitor.pk}/",
        f"/deployments/{deployment.environment.name}/{deployment.model.name}/",
        f"/models/{deployment.model.name}/",
    ]


def test_every_chart_is_the_figure_plotly_would_validate(client, scientist, pages, monkeypatch):
    client.login(username=scientist.username, password=PASSWORD)
    unvalidated = {url: _as_drawn(_figures(client, url)) for url in pages}
    monkeypatch.setattr(figures, "VALIDATE", True)
    validated = {url: _as_drawn(_figures(client, url)) for url in pages}

    assert sum(len(found) for found in validated.values()) >= 15  # the pages do draw charts
    for url in pages:
        assert unvalidated[url] == validated[url], url


def test_a_template_goes_into_the_page_once_and_a_figure_only_names_it(client, scientist, pages):
    client.login(username=scientist.username, password=PASSWORD)
    found = _figures(client, pages[1])  # the dataset version: a dozen charts

    templates = [name for name in found if name.startswith("plotly-template-")]
    charts = [spec for name, spec in found.items() if name.endswith("-figure")]
    assert templates == ["plotly-template-plotly_white"] and len(charts) > 5
    assert {spec["layout"]["template"] for spec in charts} == {"plotly_white"}
    assert all(spec["layout"]["title"]["text"] for spec in charts)  # titles survive as plotly.js reads them


def test_a_value_cannot_close_the_figure_element(client, scientist):
    from django.template import Context, Template

    from mlops_site.figures import go

    figure = go.Figure(go.Bar(x=["</script><script>alert(1)</script>"], y=[1]))
    html = Template("{% load ui %}{% plotly_figure figure 'x' %}").render(Context({"figure": figure}))
    assert "</script><script>" not in html
    assert json.loads(FIGURE.findall(html)[-1][1])["data"][0]["x"] == ["</script><script>alert(1)</script>"]
