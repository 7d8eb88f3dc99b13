from django.apps import AppConfig


class ExperimentsConfig(AppConfig):
    """Datasets and their versions, data quality, runs, params, metrics, artifacts, training jobs."""

    name = "experiments"

    def ready(self) -> None:
        from experiments.models import Dataset
        from mlops_site import demo, stored_files, ui

        ui.register_dashboard_card(
            ui.DashboardCard(
                label="Datasets", url_name="datasets", count=Dataset.objects.count, hint="versioned tables", order=10
            )
        )
        stored_files.register("experiments.DatasetVersion")
        stored_files.register("experiments.RunArtifact")
        demo.register_step(10, "datasets", "experiments.demo.create_demo_datasets")
        demo.register_step(20, "training runs", "experiments.demo.create_demo_runs")
