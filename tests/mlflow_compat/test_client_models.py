"""Contract tests: the real mlflow client's artifacts, logged models, registry and `models:/` loading.

The proof of issue 17: a model logged with `mlflow.sklearn.log_model` in a script becomes a registry version
that passes the gates on the model's evaluation set, is approved by a reviewer, deployed, and answers predict
with the script's own predictions; and versions, logged there or trained here, load back into the client.
"""

from __future__ import annotations

import hashlib
from textwrap import dedent

import pandas as pd
import pytest
from django.core.files.storage import default_storage

from deployments import serving
from deployments.models import Deployment
from experiments import services as experiment_services
from experiments.demo_data import credit_scoring_frame
from experiments.models import Run, RunArtifact
from mlflow_compat.models import LoggedModel
from mlops_site import roles
from registry import services as registry_services
from registry.models import ModelAlias, ModelVersion, PromotionRequest
from tests.builders import credit_csv, make_user, token_client, upload

pytestmark = pytest.mark.mlflow_client

FEATURES = ["age", "annual_income", "employment_years", "loan_amount", "credit_score", "debt_to_income"]

# Trains a pipeline made here (not from the site's catalogue) and logs it as a script would.
TRAIN = """
import os
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
import mlflow.sklearn

features = os.environ["FEATURES"].split(",")
frame = pd.read_csv(os.environ["TRAIN_CSV"])
frame = frame[frame["defaulted"].notna()]
X, y = frame[features].astype("float64"), frame["defaulted"].astype(int)
pipeline = Pipeline([("fill", SimpleImputer(strategy="median")), ("model", GradientBoostingClassifier(n_estimators=25, random_state=0))])
pipeline.fit(X, y)
rows = pd.read_csv(os.environ["SCORE_CSV"])[features].astype("float64")
# skops refuses tree models' node storage unless the script says it trusts it, as MLflow's docs show.
trusted = ["sklearn.tree._tree.Tree", "numpy.dtype"]
"""


def stored_bytes(name: str) -> bytes:
    with default_storage.open(name, "rb") as handle:
        return handle.read()


@pytest.fixture
def files(tmp_path):
    frame = credit_scoring_frame(rows=500, seed=23).drop(columns=["customer_id"])
    evaluation = frame[frame["defaulted"].notna()]
    (tmp_path / "train.csv").write_bytes(credit_csv())
    (tmp_path / "score.csv").write_text(evaluation.head(40).to_csv(index=False))
    return {"TRAIN_CSV": tmp_path / "train.csv", "SCORE_CSV": tmp_path / "score.csv", "FEATURES": ",".join(FEATURES)}


def test_a_model_logged_with_log_model_is_gated_reviewed_deployed_and_predicts(run_client, files, settings):
    user = run_client.user
    reviewer = make_user("client-reviewer", roles.REVIEWER)
    # The model's evaluation set: the rows every version is scored on when it has no holdout lineage.
    evaluation_frame = credit_scoring_frame(rows=500, seed=23).drop(columns=["customer_id"])
    evaluation_frame = evaluation_frame[evaluation_frame["defaulted"].notna()]
    dataset = experiment_services.create_dataset(name="credit-evaluation", actor=user)
    evaluation, _ = experiment_services.upload_version(
        dataset, upload(content=evaluation_frame.to_csv(index=False).encode()), actor=user, target="defaulted"
    )
    model = registry_services.create_model(name="credit-default", actor=user)
    registry_services.update_model(
        model,
        {"gates": {"evaluation": {"dataset_version": evaluation.pk, "target": "defaulted"}}},
        actor=user,
    )

    out = run_client(
        TRAIN
        + dedent(
            """
        mlflow.set_experiment("credit notebook")
        with mlflow.start_run(run_name="gbm") as run:
            mlflow.log_params({"n_estimators": 25})
            mlflow.log_metric("train_accuracy", float(pipeline.score(X, y)))
            info = mlflow.sklearn.log_model(
                pipeline, name="model", serialization_format="skops", skops_trusted_types=trusted, input_example=X.head(5),
                registered_model_name="credit-default",
            )
        emit(
            run_id=run.info.run_id, model_id=info.model_id, version=info.registered_model_version,
            predictions=[int(v) for v in pipeline.predict(rows)],
        )
        """
        ),
        **files,
    )
    version = ModelVersion.objects.get(model=model, number=int(out["version"]))
    logged = LoggedModel.objects.get(model_id=out["model_id"])
    assert logged.status == LoggedModel.Status.READY and logged.source_run_id == int(out["run_id"])
    assert version.run_id == int(out["run_id"]) and version.format == "skops"
    assert [c["name"] for c in version.signature["inputs"]] == FEATURES
    # The pinned file is the logged model's own model.skops, byte for byte.
    skops_file = logged.artifacts.get(path="model.skops")
    assert version.sha256 == skops_file.sha256 == hashlib.sha256(stored_bytes(version.artifact.file)).hexdigest()
    assert version.lineage["mlflow"]["logged_model"] == logged.model_id
    assert Run.objects.get(pk=version.run_id).status == Run.Status.FINISHED

    # Gates on the evaluation set, then a reviewer: the same road as any version.
    promotion = registry_services.request_promotion(version, "production", justification="from a notebook", actor=user)
    promotion.refresh_from_db()
    assert promotion.gates_status == "pass", promotion.gates
    assert promotion.evidence["evaluation"]["dataset_version"] == evaluation.pk
    registry_services.approve(promotion, actor=reviewer, comment="scored on the evaluation set")
    promotion.refresh_from_db()
    assert promotion.status == PromotionRequest.Status.APPROVED
    serving.cache.clear()
    serving.deployments.clear()
    deployment = Deployment.objects.get(environment__name="production", model=model)
    assert deployment.primary == version

    scored = pd.read_csv(files["SCORE_CSV"])[FEATURES]
    records = scored.astype(object).where(scored.notna(), None).to_dict("records")
    answer = token_client(user).post(
        "/api/deployments/production/credit-default/predict", {"records": records}, format="json"
    )
    assert answer.status_code == 200, answer.json()
    assert [p["prediction"] for p in answer.json()["predictions"]] == out["predictions"]


def test_artifacts_are_stored_with_their_sha256_listed_downloaded_and_overwritten(run_client, tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "a.txt").write_text("alpha")
    (tmp_path / "report" / "deep").mkdir()
    (tmp_path / "report" / "deep" / "b.bin").write_bytes(bytes(range(256)) * 40)
    out = run_client(
        """
        import os, tempfile
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        client = MlflowClient()
        mlflow.set_experiment("artifacts")
        with mlflow.start_run() as run:
            mlflow.log_artifacts(os.environ["REPORT"], artifact_path="report")
            mlflow.log_dict({"threshold": 0.5}, "config/settings.json")
            mlflow.log_text("first", "notes.txt")
            mlflow.log_text("second", "notes.txt")  # MLflow overwrites a path
            figure, axis = plt.subplots()
            axis.plot([1, 2, 3], [2, 4, 8])
            mlflow.log_figure(figure, "plots/curve.png")
        mlflow.log_text("after the end", "late.txt", run_id=run.info.run_id)  # and allows uploads after end_run
        top = [(f.path, f.is_dir) for f in client.list_artifacts(run.info.run_id)]
        nested = [(f.path, f.is_dir, f.file_size) for f in client.list_artifacts(run.info.run_id, "report/deep")]
        where = client.download_artifacts(run.info.run_id, "report", tempfile.mkdtemp())
        got = {}
        for root, _, names in os.walk(where):
            for name in names:
                path = os.path.join(root, name)
                got[os.path.relpath(path, where)] = open(path, "rb").read().hex()
        notes = mlflow.artifacts.load_text(f"runs:/{run.info.run_id}/notes.txt")
        config = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/config/settings.json")
        missing = code_of(client.download_artifacts, run.info.run_id, "nope.txt", tempfile.mkdtemp())
        emit(run_id=run.info.run_id, top=top, nested=nested, got=got, notes=notes, config=config, missing=missing)
        """,
        REPORT=tmp_path / "report",
    )
    run = Run.objects.get(pk=int(out["run_id"]))
    paths = set(RunArtifact.objects.filter(run=run).values_list("path", flat=True))
    assert paths == {
        "report/a.txt",
        "report/deep/b.bin",
        "config/settings.json",
        "notes.txt",
        "plots/curve.png",
        "late.txt",
    }
    for artifact in RunArtifact.objects.filter(run=run):
        data = stored_bytes(artifact.file)
        assert artifact.sha256 == hashlib.sha256(data).hexdigest() and artifact.size_bytes == len(data)
    assert stored_bytes(RunArtifact.objects.get(run=run, path="plots/curve.png").file)[:8] == b"\x89PNG\r\n\x1a\n"
    assert out["notes"] == "second" and out["config"] == {"threshold": 0.5}
    assert [tuple(x) for x in out["top"]] == [
        ("config", True),
        ("late.txt", False),
        ("notes.txt", False),
        ("plots", True),
        ("report", True),
    ]
    assert [tuple(x) for x in out["nested"]] == [("report/deep/b.bin", False, 10240)]
    assert out["got"] == {"a.txt": b"alpha".hex(), "deep/b.bin": (bytes(range(256)) * 40).hex()}
    assert out["missing"] is not None
    # The run page lists them like artifacts logged through the site's own API.
    client = token_client(run.user)
    listed = client.get(f"/api/runs/{run.pk}/").json()
    assert {a["path"] for a in listed["artifacts"]} == paths


def test_registry_calls_aliases_tags_and_refusals(run_client, files):
    out = run_client(
        TRAIN
        + dedent(
            """
        client = MlflowClient()
        mlflow.set_experiment("registry calls")
        created = client.create_registered_model("Churn", description="who leaves")
        duplicate = code_of(client.create_registered_model, "churn")  # names are unique whatever their case
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(pipeline, name="model", serialization_format="skops", skops_trusted_types=trusted, input_example=X.head(5))
        first = mlflow.register_model(f"runs:/{run.info.run_id}/model", "Churn")
        client.set_registered_model_alias("Churn", "champion", first.version)
        by_alias = client.get_model_version_by_alias("Churn", "champion")
        client.set_model_version_tag("Churn", first.version, "validated_by", "ana")
        client.set_registered_model_tag("Churn", "team", "retention")
        got = client.get_model_version("Churn", first.version)
        model = client.get_registered_model("Churn")
        missing_alias = code_of(client.get_model_version_by_alias, "Churn", "nope")
        reserved_alias = code_of(client.set_registered_model_alias, "Churn", "latest", first.version)
        transition = code_of(client.transition_model_version_stage, "Churn", first.version, "Production")
        after = client.get_model_version("Churn", first.version).current_stage
        delete_version = code_of(client.delete_model_version, "Churn", first.version)
        delete_model = code_of(client.delete_registered_model, "Churn")
        unknown_model = code_of(client.get_registered_model, "nobody")
        unknown_version = code_of(client.get_model_version, "Churn", "99")
        client.delete_registered_model_alias("Churn", "champion")
        aliases_after = client.get_registered_model("Churn").aliases
        client.set_model_version_tag("Churn", first.version, "scratch", "1")
        client.delete_model_version_tag("Churn", first.version, "scratch")
        client.set_registered_model_tag("Churn", "scratch", "1")
        client.delete_registered_model_tag("Churn", "scratch")
        client.update_registered_model("Churn", description="customers who leave")
        client.update_model_version("Churn", first.version, description="first cut")
        logged = client.search_logged_models([run.info.experiment_id], filter_string="name = 'model'")
        fetched = client.get_logged_model(logged[0].model_id)
        emit(
            created=created.name, duplicate=duplicate, version=first.version, by_alias=by_alias.version,
            tags=got.tags, model_tags=model.tags, aliases=model.aliases, stage=got.current_stage,
            missing_alias=missing_alias, reserved_alias=reserved_alias, transition=transition, after=after,
            delete_version=delete_version, delete_model=delete_model, unknown_model=unknown_model,
            unknown_version=unknown_version, aliases_after=aliases_after,
            after_edits=(client.get_model_version("Churn", first.version).tags, client.get_registered_model("Churn").tags),
            descriptions=(client.get_registered_model("Churn").description, client.get_model_version("Churn", first.version).description),
            logged=[(m.model_id, m.name, str(m.status), m.source_run_id) for m in logged],
            fetched=(fetched.model_id, fetched.artifact_location),
            searched=[m.name for m in client.search_registered_models()],
            searched_by_name=[m.name for m in client.search_registered_models(filter_string="name = 'Churn'")],
            versions=[(v.name, v.version, v.run_id) for v in client.search_model_versions("name='Churn'")],
            latest=[v.version for v in client.get_latest_versions("Churn", stages=["None"])],
        )
        """
        ),
        **files,
    )
    version = ModelVersion.objects.get(model__name="Churn", number=int(out["version"]))
    assert out["created"] == "Churn" and out["duplicate"] == "RESOURCE_ALREADY_EXISTS"
    assert out["by_alias"] == out["version"] and out["aliases"] == {"champion": out["version"]}
    assert out["tags"] == {"validated_by": "ana"} == version.tags
    assert out["model_tags"] == {"team": "retention"}
    assert out["missing_alias"] == "INVALID_PARAMETER_VALUE" and out["reserved_alias"] == "INVALID_PARAMETER_VALUE"
    # Stages move only through a reviewed promotion request.
    assert out["transition"] == "INVALID_PARAMETER_VALUE" and out["after"] == "None" and version.stage == "none"
    assert not PromotionRequest.objects.filter(version=version).exists()
    assert out["delete_version"] == out["delete_model"] == "INVALID_PARAMETER_VALUE"
    assert ModelVersion.objects.filter(model__name="Churn").count() == 1
    assert out["unknown_model"] == out["unknown_version"] == "RESOURCE_DOES_NOT_EXIST"
    assert out["aliases_after"] == {} and not ModelAlias.objects.filter(model=version.model).exists()
    assert out["searched"] == ["Churn"] == out["searched_by_name"]
    assert [tuple(v) for v in out["versions"]] == [("Churn", out["version"], str(version.run_id))]
    assert out["latest"] == [out["version"]]
    assert out["after_edits"] == [{"validated_by": "ana"}, {"team": "retention"}]
    assert out["descriptions"] == ["customers who leave", "first cut"]
    version.refresh_from_db()
    assert version.description == "first cut" and version.model.description == "customers who leave"
    logged = LoggedModel.objects.get()
    assert [tuple(x) for x in out["logged"]] == [(logged.model_id, "model", "READY", str(logged.source_run_id))]
    assert out["fetched"] == [
        logged.model_id,
        f"mlflow-artifacts:/{logged.experiment_id}/models/{logged.model_id}/artifacts",
    ]


def test_versions_load_back_into_the_client_logged_there_or_trained_here(run_client, files, credit):
    user = run_client.user
    experiment, training_data = credit
    trained = experiment_services.start_training(
        experiment, training_data, actor=user, target="defaulted", algorithm="random_forest", seed=1
    )
    trained.refresh_from_db()
    assert trained.status == Run.Status.FINISHED, trained.error
    site_model = registry_services.create_model(name="credit-site", actor=user)
    site_version = registry_services.register_version(site_model, trained, actor=user)
    registry_services.set_alias(site_model, "champion", site_version, actor=user)
    columns = [c["name"] for c in site_version.signature["inputs"]]
    rows = experiment_services.load_frame(training_data)[columns].head(30)
    rows_csv = files["TRAIN_CSV"].parent / "site_rows.csv"
    rows.to_csv(rows_csv, index=False)
    expected_site = experiment_services.load_pipeline(site_version.artifact, site_version.signature).predict(rows)

    out = run_client(
        TRAIN
        + dedent(
            """
        import numpy as np
        mlflow.set_experiment("loading")
        with mlflow.start_run():
            info = mlflow.sklearn.log_model(
                pipeline, name="model", serialization_format="skops", skops_trusted_types=trusted, input_example=X.head(5),
                registered_model_name="credit-notebook",
            )
        MlflowClient().set_registered_model_alias("credit-notebook", "champion", info.registered_model_version)
        by_alias = mlflow.pyfunc.load_model("models:/credit-notebook@champion").predict(rows)
        by_number = mlflow.pyfunc.load_model(f"models:/credit-notebook/{info.registered_model_version}").predict(rows)
        site_rows = pd.read_csv(os.environ["SITE_ROWS"])
        site_loaded = mlflow.pyfunc.load_model("models:/credit-site@champion")
        site_by_number = mlflow.pyfunc.load_model("models:/credit-site/1").predict(site_rows)
        emit(
            own=[int(v) for v in pipeline.predict(rows)], by_alias=[int(v) for v in by_alias],
            by_number=[int(v) for v in by_number], site=[int(v) for v in site_loaded.predict(site_rows)],
            site_by_number=[int(v) for v in site_by_number],
            flavors=sorted(site_loaded.metadata.flavors),
        )
        """
        ),
        SITE_ROWS=rows_csv,
        MLFLOW_ALLOW_PICKLE_DESERIALIZATION="true",  # MLflow asks for it before loading any model, skops too
        **files,
    )
    assert out["by_alias"] == out["own"] == out["by_number"]
    assert out["site"] == [int(v) for v in expected_site] == out["site_by_number"]
    assert out["flavors"] == ["python_function", "sklearn"]


def test_a_pickled_model_is_kept_but_never_registered(run_client, files):
    out = run_client(
        TRAIN
        + dedent(
            """
        mlflow.set_experiment("pickled")
        with mlflow.start_run() as run:
            try:
                mlflow.sklearn.log_model(
                    pipeline, name="model", serialization_format="cloudpickle", input_example=X.head(5),
                    registered_model_name="pickled",
                )
                error = None
            except MlflowException as exc:
                error = (exc.error_code, exc.message)
        emit(run_id=run.info.run_id, error=error)
        """
        ),
        **files,
    )
    code, message = out["error"]
    assert code == "INVALID_PARAMETER_VALUE" and 'serialization_format="skops"' in message
    logged = LoggedModel.objects.get(source_run_id=int(out["run_id"]))
    assert logged.status == LoggedModel.Status.READY and logged.artifacts.filter(path="model.pkl").exists()
    assert not ModelVersion.objects.filter(model__name="pickled").exists()


def test_inputs_tag_deletion_and_attribute_filters(run_client):
    out = run_client(
        """
        import pandas as pd
        client = MlflowClient()
        experiment_id = mlflow.set_experiment("extras").experiment_id
        frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
        with mlflow.start_run(run_name="with input") as run:
            mlflow.log_input(mlflow.data.from_pandas(frame, name="loans", targets="b"), context="training")
            mlflow.set_tag("temp", "1")
            client.delete_tag(run.info.run_id, "temp")
        with mlflow.start_run(run_name="other") as other:
            pass
        me = client.get_run(run.info.run_id).info.user_id
        finished = client.get_run(other.info.run_id).info.end_time
        def names(text):
            return sorted(r.info.run_name for r in client.search_runs([experiment_id], text))
        emit(
            run_id=run.info.run_id,
            inputs=[(d.dataset.name, d.dataset.digest) for d in client.get_run(run.info.run_id).inputs.dataset_inputs],
            tags=client.get_run(run.info.run_id).data.tags,
            by_id=names(f"attributes.run_id = '{run.info.run_id}'"),
            by_user=names(f"attributes.user_id = '{me}'"),
            by_end=names(f"attributes.end_time >= {finished}"),
        )
        """
    )
    run = Run.objects.get(pk=int(out["run_id"]))
    assert [(name, digest) for name, digest in out["inputs"]] == list(run.mlflow_inputs.values_list("name", "digest"))
    assert out["inputs"][0][0] == "loans"
    assert "temp" not in out["tags"] and "temp" not in run.tags
    assert out["by_id"] == ["with input"]
    assert out["by_user"] == ["other", "with input"]
    assert out["by_end"] == ["other"]
