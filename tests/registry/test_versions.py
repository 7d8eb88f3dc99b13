"""Version pages: the version with its evidence and model card, card editing and export, the version diff.

One test trains a real model (for the fairness gate's groups); the others register versions from
logged runs, which pass through the same services in a fraction of the time and let the diff tests
choose exactly which params, metrics, signature columns and data differ.
"""

import json

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from experiments import services as experiment_services
from experiments.models import DatasetVersion
from mlops_site.models import AuditEvent
from mlops_site.templatetags.ui import number
from registry import cards, services
from registry.models import ModelVersion, PromotionRequest, RegisteredModel
from registry.services import cards as card_services
from tests.registry.servable import servable_model_bytes
from tests.registry.test_services import model, trained_run  # noqa: F401

pytestmark = pytest.mark.django_db

SIGNATURE_A = {
    "inputs": [
        {"name": "income", "kind": "numeric", "dtype": "float64"},
        {"name": "city", "kind": "categorical", "dtype": "object"},
        {"name": "owns_home", "kind": "boolean", "dtype": "bool"},
    ],
    "output": {"task": "classification", "classes": [0, 1]},
}
SIGNATURE_B = {
    "inputs": [
        {"name": "income", "kind": "numeric", "dtype": "float64"},
        {"name": "city", "kind": "text", "dtype": "object"},
        {"name": "age", "kind": "numeric", "dtype": "int64"},
    ],
    "output": {"task": "classification", "classes": [0, 1]},
}
PARAMS_A = {"algorithm": "logistic_regression", "C": "1.0", "target": "defaulted"}
PARAMS_B = {"algorithm": "logistic_regression", "C": "0.25", "target": "defaulted", "class_weight": "balanced"}
METRICS_A = {"f1": 0.7, "accuracy": 0.8125, "log_loss": 0.4}
METRICS_B = {"f1": 0.75, "accuracy": 0.8, "log_loss": 0.45}


def logged_version(model, actor, *, params, metrics, signature, inputs, name):  # noqa: F811
    """A version registered from a run logged like a script would: params, metrics, model file, signature."""
    experiment = experiment_services.create_experiment(name=f"exp {name}", actor=actor)
    run = experiment_services.create_run(experiment, actor=actor, name=name, input_versions=[v.pk for v in inputs])
    experiment_services.log_batch(
        run, actor=actor, params=params, metrics=[{"key": k, "value": v} for k, v in metrics.items()]
    )
    experiment_services.upload_artifact(
        run,
        SimpleUploadedFile(
            "pipeline.skops", servable_model_bytes(signature or SIGNATURE_A, c=1.0 + len(name) + ord(name[0]))
        ),
        actor=actor,
        path="model/pipeline.skops",
    )
    experiment_services.upload_artifact(
        run,
        SimpleUploadedFile("signature.json", json.dumps(signature or SIGNATURE_A).encode()),
        actor=actor,
        path="model/signature.json",
    )
    run = experiment_services.finish_run(run, actor=actor)
    return services.register_version(model, run, actor=actor)


@pytest.fixture
def cleaned(version, scientist, django_capture_on_commit_callbacks):
    """loans v2, derived from v1 by a two-step recipe: a lineage chain with a recipe in it."""
    steps = [{"op": "drop_duplicates"}, {"op": "drop_missing_target", "column": "defaulted"}]
    with django_capture_on_commit_callbacks(execute=True):
        experiment_services.start_cleaning(version, steps, actor=scientist)
    return DatasetVersion.objects.get(parent=version)


@pytest.fixture
def two_versions(scientist, model, version, cleaned):  # noqa: F811
    first = logged_version(
        model, scientist, params=PARAMS_A, metrics=METRICS_A, signature=SIGNATURE_A, inputs=[version], name="a"
    )
    second = logged_version(
        model, scientist, params=PARAMS_B, metrics=METRICS_B, signature=SIGNATURE_B, inputs=[cleaned], name="b"
    )
    return first, second


def page(client, user, name, *args, **query):
    client.force_login(user)
    return client.get(reverse(name, args=args), query)


# ---------------------------------------------------------------------------------------------------
# Version page
# ---------------------------------------------------------------------------------------------------


def test_version_page_shows_a_trained_versions_evidence_and_fairness(
    client,
    scientist,
    reviewer,
    model,  # noqa: F811
    trained_run,  # noqa: F811
    credit,
    django_capture_on_commit_callbacks,
):
    _, dataset_version = credit
    registered = services.register_version(model, trained_run, actor=scientist)
    RegisteredModel.objects.filter(pk=model.pk).update(gates={"fairness": {"column": "region", "max_gap": 0.5}})
    with django_capture_on_commit_callbacks(execute=True):
        promotion = services.request_promotion(registered, "staging", justification="better f1", actor=scientist)
    promotion.refresh_from_db()
    fairness = next(gate for gate in promotion.gates if gate["name"] == "fairness")
    assert fairness["details"]["groups"], fairness  # the gate measured the regions

    response = page(client, scientist, "version-detail", model.name, 1)
    html = response.content.decode()
    assert response.status_code == 200
    assert registered.sha256 in html
    for key in ("f1", "accuracy", "roc_auc"):
        assert f'<td class="num">{number(registered.metrics[key], 6)}</td>' in html
    assert f'href="{dataset_version.get_absolute_url()}"' in html and f"credit v{dataset_version.number}" in html
    assert f'href="{trained_run.get_absolute_url()}"' in html
    assert f'href="{reverse("promotion-detail", args=[promotion.pk])}"' in html
    shown = response.context["card"]["fairness"]
    assert shown["measured"] and shown["column"] == "region" and shown["request"] == promotion.pk
    assert [row["group"] for row in shown["groups"]] == [row["group"] for row in fairness["details"]["groups"]]
    for column in registered.signature["inputs"]:
        assert f"<code>{column['name']}</code>" in html
    # Scientists may ask for promotion to a stage the version is not in, with a justification.
    assert f'action="{reverse("version-promote", args=[model.name, 1])}"' in html
    assert '<option value="staging">' in html and '<option value="production">' in html
    assert 'name="justification"' in html and "Request promotion" in html

    markdown = page(client, reviewer, "version-card-markdown", model.name, 1).content.decode()
    first = fairness["details"]["groups"][0]
    assert f"| {first['group']} | {first['n']:,} | {first['positives']:,} |" in markdown
    assert "| Group | Rows | Actual positives | Positive rate | Recall |" in markdown

    reviewer_html = page(client, reviewer, "version-detail", model.name, 1).content.decode()
    assert "Request promotion" not in reviewer_html and "Edit the written sections" not in reviewer_html


def test_version_page_lists_lineage_with_recipes_and_the_promote_form_skips_the_current_stage(
    client,
    scientist,
    two_versions,
    version,
    cleaned,
):
    _, second = two_versions
    services.move_to_stage(second, "staging", actor=scientist)
    response = page(client, scientist, "version-detail", second.model.name, second.number)
    html = response.content.decode()
    assert f'href="{cleaned.get_absolute_url()}"' in html and f'href="{version.get_absolute_url()}"' in html
    assert "<code>drop_duplicates()</code>" in html and "<code>drop_missing_target(column=defaulted)</code>" in html
    assert "derived from v1" in html
    assert '<option value="production">' in html and '<option value="staging">' not in html
    assert "Not measured: no promotion request has run a fairness gate" in html
    assert f"?a=1&amp;b={second.number}" in html  # "Compare with…" the previous version


def test_a_version_with_sparse_or_partial_evidence_still_renders(client, scientist, model):  # noqa: F811
    sparse = logged_version(model, scientist, params={}, metrics={}, signature={}, inputs=[], name="bare")
    # Registration now requires a signature; versions registered by an older release may lack one.
    ModelVersion.objects.filter(pk=sparse.pk).update(signature={})
    response = page(client, scientist, "version-detail", model.name, sparse.number)
    html = response.content.decode()
    assert response.status_code == 200
    assert "No metrics were recorded" in html and "No signature was recorded" in html
    assert "No dataset version is recorded for this run" in html
    # Lineage written by an older release may lack ids: shown without links rather than failing.
    ModelVersion.objects.filter(pk=sparse.pk).update(lineage={"inputs": [{"dataset": "old", "chain": [{"number": 3}]}]})
    html = page(client, scientist, "version-detail", model.name, sparse.number).content.decode()
    assert "old v3" in html
    markdown = page(client, scientist, "version-card-markdown", model.name, sparse.number).content.decode()
    assert "### old v3" in markdown and "  1. v3 — uploaded" in markdown and "``" not in markdown
    assert markdown.count("_Not written yet._") == 3


def test_unknown_model_or_version_is_a_404(client, scientist, two_versions):
    for name, args in [
        ("version-detail", ["nope", 1]),
        ("version-detail", ["credit-default", 99]),
        ("version-card-markdown", ["credit-default", 99]),
        ("version-card-edit", ["credit-default", 99]),
        ("version-diff", ["nope"]),
    ]:
        assert page(client, scientist, name, *args).status_code == 404, (name, args)


def test_people_without_a_role_cannot_read_versions(client, nobody, two_versions):
    for name, args in [
        ("version-detail", ["credit-default", 1]),
        ("version-card-markdown", ["credit-default", 1]),
        ("version-diff", ["credit-default"]),
    ]:
        assert page(client, nobody, name, *args).status_code == 403


# ---------------------------------------------------------------------------------------------------
# Diff
# ---------------------------------------------------------------------------------------------------


def test_diff_defaults_to_the_two_newest_and_shows_what_changed(client, reviewer, two_versions, version, cleaned):
    response = page(client, reviewer, "version-diff", "credit-default")
    assert response.status_code == 200
    diff = response.context["diff"]
    assert (diff["a"].number, diff["b"].number) == (1, 2)

    differing = {key for key in {*PARAMS_A, *PARAMS_B} if PARAMS_A.get(key) != PARAMS_B.get(key)}
    assert {row["name"] for row in diff["params"] if row["differs"]} == differing == {"C", "class_weight"}
    html = response.content.decode()
    assert "2 of 4 differ." in html and "2 identical params" in html
    for key in differing:
        assert f'<tr class="differs"><th>{key}</th>' in html
    for key in {"algorithm", "target"}:
        assert f'<tr><th>{key}</th><td class="wrap">{PARAMS_A[key]}</td></tr>' in html

    rows = {row["name"]: row for row in diff["metrics"]}
    for key in METRICS_A:
        assert rows[key]["delta"] == pytest.approx(METRICS_B[key] - METRICS_A[key])
    assert rows["f1"]["better"] == "b"  # 0.75 > 0.7
    assert rows["accuracy"]["better"] == "a"  # 0.8 < 0.8125
    assert rows["log_loss"]["better"] == "a"  # 0.45 > 0.4, and lower is better
    assert "+0.05" in html and "-0.0125" in html

    changes = {row["name"]: row["change"] for row in diff["signature"]}
    assert changes == {"income": "", "city": "kind changed", "owns_home": "removed", "age": "added"}
    (lineage,) = diff["lineage"]
    assert lineage["a"]["sha256"] == version.sha256 and lineage["b"]["sha256"] == cleaned.sha256
    assert lineage["same"] is False and "<strong>different</strong>" in html
    assert f'href="{version.get_absolute_url()}"' in html and f'href="{cleaned.get_absolute_url()}"' in html

    chart = response.context["chart"]
    assert list(chart.data[0].x) == ["accuracy", "f1", "log_loss ↓"]
    assert list(chart.data[1].y) == [METRICS_B["accuracy"], METRICS_B["f1"], METRICS_B["log_loss"]]


def test_diff_can_be_reversed_and_bad_choices_say_why(client, reviewer, two_versions):
    reversed_ = page(client, reviewer, "version-diff", "credit-default", a=2, b=1).context["diff"]
    assert {row["name"]: row["better"] for row in reversed_["metrics"]}["f1"] == "a"
    for query, message in [
        ({"a": 1, "b": 1}, "Pick two different versions to compare."),
        ({"a": 9, "b": 1}, "Select a valid choice. 9 is not one of the available choices."),
        ({"a": "x", "b": 1}, "Select a valid choice. x is not one of the available choices."),
    ]:
        response = page(client, reviewer, "version-diff", "credit-default", **query)
        assert response.status_code == 200 and response.context["diff"] is None
        assert message in response.content.decode()


def test_diff_with_one_version_explains_that_two_are_needed(client, scientist, model, version):  # noqa: F811
    logged_version(model, scientist, params={}, metrics={}, signature={}, inputs=[version], name="only")
    response = page(client, scientist, "version-diff", model.name)
    assert response.status_code == 200 and "comparing needs two" in response.content.decode()


# ---------------------------------------------------------------------------------------------------
# Model card
# ---------------------------------------------------------------------------------------------------


def test_markdown_export_has_the_metrics_table_and_the_sections(client, reviewer, scientist, two_versions):
    first, _ = two_versions
    card_services.update_card(first, actor=scientist, limitations="Not for business loans.")
    response = page(client, reviewer, "version-card-markdown", "credit-default", 1)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/markdown; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="credit-default-v1-model-card.md"'
    text = response.content.decode()
    assert text.startswith("# Model card: credit-default v1\n")
    assert "| Metric | Value | Better |" in text
    assert "| accuracy | 0.8125 | higher |" in text and "| f1 | 0.7 | higher |" in text
    assert "| log_loss | 0.4 | lower |" in text
    assert "## Limitations\n\nNot for business loans.\n" in text
    assert "## Intended use\n\n_Not written yet._\n" in text
    assert "## Ethical considerations\n\n_Not written yet._\n" in text
    assert f"`{first.sha256}`" in text and "| city | categorical | object |" in text


def test_a_data_scientist_edits_the_card_and_it_is_audited(client, scientist, two_versions):
    first, _ = two_versions
    client.force_login(scientist)
    url = reverse("version-card-edit", args=["credit-default", 1])
    assert client.get(url).status_code == 200
    response = client.post(
        url, {"intended_use": "  Pre-screening personal loans.  ", "limitations": "", "ethical_considerations": "Bias."}
    )
    assert response.status_code == 302 and response["Location"] == f"{first.get_absolute_url()}#card"
    first.refresh_from_db()
    assert first.card == {"intended_use": "Pre-screening personal loans.", "ethical_considerations": "Bias."}
    event = AuditEvent.objects.get(action="model.card_updated")
    assert event.actor == scientist and event.target_id == str(first.pk)
    assert event.before == {"intended_use": "", "ethical_considerations": ""}
    assert event.after == {"intended_use": "Pre-screening personal loans.", "ethical_considerations": "Bias."}
    html = client.get(first.get_absolute_url()).content.decode()
    assert "Pre-screening personal loans." in html
    # Saving the same text again changes nothing and adds no audit row.
    client.post(url, {"intended_use": "Pre-screening personal loans.", "ethical_considerations": "Bias."})
    assert AuditEvent.objects.filter(action="model.card_updated").count() == 1


def test_a_reviewer_cannot_edit_the_card_and_nothing_changes(client, reviewer, two_versions):
    first, _ = two_versions
    client.force_login(reviewer)
    url = reverse("version-card-edit", args=["credit-default", 1])
    assert client.get(url).status_code == 403
    assert client.post(url, {"intended_use": "mine now"}).status_code == 403
    with pytest.raises(PermissionDenied, match="Only data scientists or the owner"):
        card_services.update_card(first, actor=reviewer, intended_use="mine now")
    first.refresh_from_db()
    assert first.card == {} and not AuditEvent.objects.filter(action="model.card_updated").exists()


def test_the_models_owner_may_edit_its_cards_whatever_their_role(reviewer, two_versions):
    first, _ = two_versions
    RegisteredModel.objects.filter(pk=first.model_id).update(owner=reviewer)
    card_services.update_card(first, actor=reviewer, intended_use="Owner's words.")
    assert ModelVersion.objects.get(pk=first.pk).card["intended_use"] == "Owner's words."


def test_unknown_sections_and_over_long_text_are_refused_and_nothing_is_saved(client, scientist, two_versions):
    first, _ = two_versions
    with pytest.raises(ValidationError) as raised:
        card_services.update_card(first, actor=scientist, intended_use="fine", caveats="what?")
    assert "Unknown section “caveats”" in raised.value.message_dict["caveats"][0]
    too_long = "x" * (cards.MAX_SECTION_CHARS + 1)
    with pytest.raises(ValidationError) as raised:
        card_services.update_card(first, actor=scientist, limitations=too_long)
    assert raised.value.message_dict["limitations"] == ["Ensure this field has no more than 10000 characters."]

    client.force_login(scientist)
    response = client.post(
        reverse("version-card-edit", args=["credit-default", 1]), {"intended_use": "fine", "limitations": too_long}
    )
    assert response.status_code == 200
    assert "Ensure this value has at most 10000 characters (it has 10001)." in response.content.decode()
    first.refresh_from_db()
    assert first.card == {} and not AuditEvent.objects.filter(action="model.card_updated").exists()


def test_card_facts_take_the_newest_measured_fairness_result(scientist, two_versions):
    first, _ = two_versions
    measured = {
        "name": "fairness",
        "status": "pass",
        "message": "ok",
        "details": {"groups": [{"group": "a"}, {"group": "b"}], "max_gap": 0.1},
    }
    skipped = {"name": "fairness", "status": "skipped", "message": "No sensitive column is configured.", "details": {}}
    older = PromotionRequest.objects.create(
        model=first.model,
        version=first,
        stage="staging",
        justification="x",
        status="rejected",
        gates=[measured],
        evidence={"config": {"fairness": {"column": "sex", "max_gap": 0.1}}},
    )
    PromotionRequest.objects.create(
        model=first.model, version=first, stage="production", justification="y", status="pending", gates=[skipped]
    )
    found = card_services.card_facts(first)["fairness"]
    assert found["request"] == older.pk and found["column"] == "sex"
    assert cards.build(card_services.card_facts(first))["fairness"]["groups"][1]["group"] == "b"
