"""A realistic, messy credit-scoring table for the demo (deterministic for a given seed)."""

from __future__ import annotations

import numpy as np
import pandas as pd

DEMO_RECIPE = [
    {"op": "map_values", "column": "age", "mapping": {"999": None}},  # the sentinel means "unknown"
    {"op": "trim_strings", "columns": ["home_ownership"]},
    {"op": "casefold_strings", "columns": ["home_ownership"]},
    {"op": "standardize_booleans", "columns": ["has_cosigner"]},
    {"op": "drop_duplicates"},
    {"op": "drop_missing_target", "column": "defaulted"},
    {"op": "impute", "column": "annual_income", "strategy": "median"},
    {"op": "impute", "column": "age", "strategy": "median"},
    {"op": "clip_outliers", "column": "age", "method": "bounds", "lower": 18, "upper": 100},
]


def credit_scoring_frame(rows: int = 10_000, seed: int = 7) -> pd.DataFrame:
    """Loan applicants with a default flag that depends on their features, plus typical data problems."""
    rng = np.random.default_rng(seed)
    age = rng.normal(41, 12, rows).clip(18, 85).round()
    income = np.exp(rng.normal(10.8, 0.5, rows)).round(-2)
    employment = np.minimum(rng.exponential(6, rows), age - 17).round(1)
    loan = (rng.gamma(2.0, 7_500, rows)).round(-2)
    score = rng.normal(680, 60, rows).clip(300, 850).round()
    accounts = rng.poisson(4, rows)
    dti = (loan / income + rng.normal(0.15, 0.08, rows)).clip(0, 2).round(3)
    ownership = rng.choice(["rent", "own", "mortgage"], rows, p=[0.45, 0.2, 0.35])
    purpose = rng.choice(
        ["debt_consolidation", "credit_card", "home_improvement", "car", "other"], rows, p=[0.4, 0.25, 0.15, 0.12, 0.08]
    )
    region = rng.choice(["north", "south", "east", "west"], rows)
    cosigner = rng.random(rows) < 0.18
    self_employed = rng.random(rows) < 0.12
    dates = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 600, rows), unit="D")
    logit = (
        -1.6
        - 0.012 * (score - 680)
        + 1.8 * (dti - 0.4)
        - 0.02 * (employment - 5)
        + 0.5 * (ownership == "rent")
        - 0.6 * cosigner
        + 0.4 * self_employed
    )
    defaulted = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(float)

    frame = pd.DataFrame(
        {
            "customer_id": [f"C{100000 + i}" for i in range(rows)],
            "age": age,
            "annual_income": income,
            "employment_years": employment,
            "loan_amount": loan,
            "credit_score": score,
            "num_open_accounts": accounts,
            "debt_to_income": dti,
            "home_ownership": ownership.astype(object),
            "purpose": purpose,
            "region": region,
            "has_cosigner": np.where(cosigner, "yes", "no").astype(object),
            "is_self_employed": self_employed,
            "application_date": dates.strftime("%Y-%m-%d"),
            "defaulted": defaulted,
        }
    )
    # The trouble real extracts have:
    frame.loc[rng.random(rows) < 0.08, "annual_income"] = np.nan  # missing incomes
    frame.loc[rng.random(rows) < 0.02, "age"] = np.nan
    frame.loc[rng.choice(rows, 12, replace=False), "age"] = 999  # sentinel typed into the age field
    frame.loc[rng.random(rows) < 0.005, "defaulted"] = np.nan  # outcome not known yet
    variants = {"rent": ["Rent", "RENT", " rent"], "own": ["Own", "own "], "mortgage": ["Mortgage", "MORTGAGE"]}
    for canonical, spellings in variants.items():
        idx = np.flatnonzero((frame["home_ownership"] == canonical).to_numpy() & (rng.random(rows) < 0.1))
        frame.loc[idx, "home_ownership"] = rng.choice(spellings, len(idx))
    for canonical, spellings in {"yes": ["Yes", "Y", "true", "1"], "no": ["No", "N", "false", "0"]}.items():
        idx = np.flatnonzero((frame["has_cosigner"] == canonical).to_numpy() & (rng.random(rows) < 0.15))
        frame.loc[idx, "has_cosigner"] = rng.choice(spellings, len(idx))
    duplicates = frame.sample(n=rows // 100, random_state=seed)  # a batch loaded twice
    return pd.concat([frame, duplicates], ignore_index=True)


def credit_scoring_csv(rows: int = 10_000, seed: int = 7) -> bytes:
    return credit_scoring_frame(rows, seed).to_csv(index=False, lineterminator="\n").encode()
