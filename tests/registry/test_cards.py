"""Model cards, pure: facts in, card parts and Markdown out, without a database."""

from datetime import UTC, datetime

from registry import cards

FACTS = {
    "model": {"name": "credit-default", "description": "Predicts loan defaults."},
    "version": {
        "number": 3,
        "stage": "staging",
        "aliases": ["challenger"],
        "created_at": datetime(2024, 5, 1, 9, 30, tzinfo=UTC),
        "created_by": "sci",
        "sha256": "ab" * 32,
        "description": "",
    },
    "run": {"id": 12, "name": "logreg C=1", "experiment": "credit default"},
    "training": {"target": "defaulted", "algorithm": "logistic_regression", "holdout": 0.25, "seed": 42},
    "data": [
        {
            "dataset": "credit-scoring",
            "version": 7,
            "rows": 1234,
            "columns": 10,
            "chain": [
                {
                    "id": 7,
                    "number": 2,
                    "sha256": "cd" * 32,
                    "recipe": [{"op": "drop_duplicates"}, {"op": "impute", "column": "income", "strategy": "median"}],
                },
                {"id": 5, "number": 1, "sha256": "ef" * 32, "recipe": None},
            ],
        }
    ],
    "signature": {
        "inputs": [
            {"name": "income", "kind": "numeric", "dtype": "float64"},
            {"name": "city", "kind": "categorical", "dtype": "object"},
        ],
        "output": {"task": "classification", "classes": [0, 1]},
    },
    "metrics": {"f1": 0.812345, "log_loss": 0.4, "accuracy": 0.9},
    "params": {"C": "1.0", "algorithm": "logistic_regression"},
    "fairness": {
        "name": "fairness",
        "status": "pass",
        "message": "Across 2 groups: …",
        "column": "sex",
        "request": 4,
        "requested_at": datetime(2024, 5, 2, 10, 0, tzinfo=UTC),
        "details": {
            "groups": [
                {"group": "F", "n": 100, "positives": 20, "positive_rate": 0.25, "recall": 0.8},
                {"group": "M", "n": 120, "positives": 30, "positive_rate": 0.3, "recall": 0.7},
            ],
            "positive": 1,
            "max_gap": 0.1,
            "positive_rate_gap": 0.05,
            "recall_gap": 0.1,
        },
    },
    "sections": {"intended_use": "  Pre-screening loan applications.  ", "limitations": ""},
}


def test_build_lists_the_generated_parts_from_the_facts():
    card = cards.build(FACTS)
    assert card["title"] == "Model card: credit-default v3"
    assert card["version"]["created"] == "2024-05-01 09:30 UTC"
    assert card["run"]["algorithm"] == "logistic_regression"
    data = card["training_data"][0]
    assert (data["dataset"], data["number"], data["rows"], data["sha256"]) == ("credit-scoring", 2, 1234, "cd" * 32)
    assert data["chain"][0]["recipe"] == ["drop_duplicates()", "impute(column=income, strategy=median)"]
    assert data["chain"][0]["parent"] == 1 and data["chain"][1]["parent"] is None and data["chain"][1]["recipe"] == []
    assert [(f["name"], f["kind"]) for f in card["features"]] == [("income", "numeric"), ("city", "categorical")]
    assert card["output"] == {"target": "defaulted", "task": "classification", "classes": ["0", "1"]}
    assert [(m["name"], m["better"]) for m in card["metrics"]] == [
        ("accuracy", "higher"),
        ("f1", "higher"),
        ("log_loss", "lower"),
    ]
    assert card["fairness"]["measured"] and card["fairness"]["column"] == "sex"
    assert [g["group"] for g in card["fairness"]["groups"]] == ["F", "M"]
    assert [(s["key"], s["text"]) for s in card["sections"]] == [
        ("intended_use", "Pre-screening loan applications."),
        ("limitations", ""),
        ("ethical_considerations", ""),
    ]


def test_markdown_has_headings_tables_and_the_written_sections():
    text = cards.to_markdown(cards.build(FACTS))
    assert text.startswith("# Model card: credit-default v3\n")
    for heading in ("Model details", "Intended use", "Training data", "Features and output", "Metrics", "Fairness"):
        assert f"\n## {heading}\n" in text
    assert "| Metric | Value | Better |\n| --- | ---: | --- |\n| accuracy | 0.9 | higher |" in text
    assert "| f1 | 0.8123 | higher |" in text and "| log_loss | 0.4 | lower |" in text
    assert "| income | numeric | float64 |" in text and "| city | categorical | object |" in text
    assert "| F | 100 | 20 | 0.25 | 0.8 |" in text and "| M | 120 | 30 | 0.3 | 0.7 |" in text
    assert "positive-rate gap 0.05, recall gap 0.1, allowed 0.1" in text
    assert "## Intended use\n\nPre-screening loan applications.\n" in text
    assert "## Limitations\n\n_Not written yet._\n" in text
    assert "## Ethical considerations\n\n_Not written yet._\n" in text
    assert "`impute(column=income, strategy=median)`" in text and "derived from v1" in text
    assert "- **Rows:** 1,234" in text and f"`{'ab' * 32}`" in text
    # Intended use comes before the data, limitations after the measurements (model-card order).
    assert text.index("## Intended use") < text.index("## Training data") < text.index("## Limitations")


def test_without_a_fairness_result_the_card_says_not_measured():
    card = cards.build({**FACTS, "fairness": None})
    assert not card["fairness"]["measured"]
    assert "_Not measured: no promotion request has run a fairness gate on this version._" in cards.to_markdown(card)


def test_a_skipped_fairness_gate_is_not_measured_and_says_why():
    skipped = {"name": "fairness", "status": "skipped", "message": "No sensitive column is configured.", "details": {}}
    card = cards.build({**FACTS, "fairness": skipped})
    assert card["fairness"] == {**card["fairness"], "measured": False}
    assert card["fairness"]["message"] == "Not measured: No sensitive column is configured."


def test_missing_facts_give_an_empty_but_valid_card():
    card = cards.build({"model": {"name": "m"}, "version": {"number": 1}})
    text = cards.to_markdown(card)
    assert card["features"] == [] and card["metrics"] == [] and card["training_data"] == []
    assert "_No signature was recorded for this version._" in text
    assert "_No metrics were recorded when the version was registered._" in text
    assert text.count("_Not written yet._") == 3


def test_user_text_cannot_break_a_table():
    facts = {**FACTS, "params": {"note": "a | b\nc"}}
    assert "| note | a \\| b c |" in cards.to_markdown(cards.build(facts))


def test_section_keys_have_labels_and_hints():
    assert cards.SECTIONS == ("intended_use", "limitations", "ethical_considerations")
    assert all(cards.LABELS[key] and cards.HINTS[key] for key in cards.SECTIONS)


def test_errors_losses_and_holdout_curves_are_lower_is_better():
    assert [cards.lower_is_better(m) for m in ("rmse", "mae", "log_loss", "holdout_log_loss", "holdout_rmse")] == [
        True
    ] * 5
    assert not any(cards.lower_is_better(m) for m in ("f1", "accuracy", "roc_auc", "r2", "recall"))
