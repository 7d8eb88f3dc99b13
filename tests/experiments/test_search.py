"""The run-search language: clauses out of valid text, a message naming the clause for anything else."""

import pytest

from experiments.search import (
    MAX_CLAUSES,
    MAX_LENGTH,
    SYNTAX_HELP,
    Clause,
    Ordering,
    SearchError,
    parse,
    parse_ordering,
)


def one(text: str) -> Clause:
    clauses = parse(text)
    assert len(clauses) == 1
    return clauses[0]


def error(text: str) -> SearchError:
    with pytest.raises(SearchError) as caught:
        parse(text)
    return caught.value


# --- what parses ---------------------------------------------------------------------------------


def test_main_example_gives_exactly_two_clauses():
    assert parse('metrics.f1 > 0.8 and params.algorithm = "random_forest"') == [
        Clause("metrics", "f1", ">", 0.8),
        Clause("params", "algorithm", "=", "random_forest"),
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_blank_search_means_no_filter(text):
    assert parse(text) == []


@pytest.mark.parametrize(
    ("written", "op"),
    [("=", "="), ("==", "="), ("!=", "!="), (">", ">"), (">=", ">="), ("<", "<"), ("<=", "<=")],
)
def test_comparison_operators_on_metrics(written, op):
    assert one(f"metrics.loss {written} 1") == Clause("metrics", "loss", op, 1.0)


def test_operators_need_no_surrounding_spaces():
    assert parse('metrics.loss<=0.5 and params.x!="a"') == [
        Clause("metrics", "loss", "<=", 0.5),
        Clause("params", "x", "!=", "a"),
    ]


@pytest.mark.parametrize(("written", "op"), [("like", "like"), ("ILIKE", "ilike"), ("Like", "like")])
def test_pattern_operators_are_case_insensitive(written, op):
    assert one(f'tags.team {written} "%vision%"') == Clause("tags", "team", op, "%vision%")


def test_in_and_not_in_take_a_list():
    assert one('tags.team in ("a", "b")') == Clause("tags", "team", "in", ("a", "b"))
    assert one("attributes.id NOT  IN (1,2,3)") == Clause("attributes", "id", "not in", (1, 2, 3))
    assert one('params.depth in ("auto")') == Clause("params", "depth", "in", ("auto",))


@pytest.mark.parametrize(
    ("written", "value"),
    [("3", 3.0), ("-1.5e-3", -0.0015), ("2E5", 200000.0), (".5", 0.5), ("+7", 7.0), ("1.", 1.0), ("-0", 0.0)],
)
def test_number_forms(written, value):
    assert one(f"metrics.m = {written}").value == value


def test_metric_values_are_floats_and_param_numbers_keep_their_type():
    assert isinstance(one("metrics.epoch = 3").value, float)
    assert one("params.max_depth = 5").value == 5 and isinstance(one("params.max_depth = 5").value, int)
    assert one("params.lr = 1e-3").value == 0.001
    assert one('params.max_depth = "5"').value == "5"


def test_single_and_double_quoted_strings_with_escapes():
    assert one("tags.note = 'it\\'s'").value == "it's"
    assert one('tags.note = "say \\"hi\\""').value == 'say "hi"'
    assert one(r'tags.path = "C:\data\\x"').value == r"C:\data\x"
    assert one('tags.mixed = "it\'s"').value == "it's"


def test_backquoted_and_double_quoted_keys():
    assert one("metrics.`val loss` < 1") == Clause("metrics", "val loss", "<", 1.0)
    assert one('metrics."val loss" < 1') == Clause("metrics", "val loss", "<", 1.0)
    assert one('tags.`a\\`b` = "x"').key == "a`b"


def test_dotted_and_punctuated_bare_keys():
    assert one("metrics.val.loss < 0.2").key == "val.loss"
    assert one('tags.mlflow:source/type-2 = "x"').key == "mlflow:source/type-2"


@pytest.mark.parametrize(
    ("written", "entity"),
    [
        ("metric", "metrics"),
        ("METRICS", "metrics"),
        ("param", "params"),
        ("Params", "params"),
        ("tag", "tags"),
        ("attribute", "attributes"),
        ("attr", "attributes"),
        ("run", "attributes"),
    ],
)
def test_entity_aliases_and_case_are_normalised(written, entity):
    value = '"x"' if entity in ("tags", "params") else "1"
    key = "id" if entity == "attributes" else "Key"
    assert one(f"{written}.{key} = {value}").entity == entity


def test_keys_keep_their_case_but_attribute_names_do_not():
    assert one("metrics.F1 > 0").key == "F1"
    assert one("attributes.ID = 4").key == "id"


def test_and_is_case_insensitive():
    assert len(parse('metrics.a > 1 AND metrics.b < 2 And tags.t = "x"')) == 3


def test_params_compare_numerically_with_range_operators_and_match_text_with_like():
    assert one("params.max_depth >= 5") == Clause("params", "max_depth", ">=", 5)
    assert one('params.algorithm ilike "random%"') == Clause("params", "algorithm", "ilike", "random%")
    assert one('params.k in ("auto", 3)') == Clause("params", "k", "in", ("auto", 3))


def test_attribute_rules():
    assert one('attributes.status = "FINISHED"') == Clause("attributes", "status", "=", "finished")
    assert one("attributes.source not in ('logged')").value == ("logged",)
    assert one('attributes.user like "ali%"') == Clause("attributes", "user", "like", "ali%")
    assert one('attributes.name != "baseline"').value == "baseline"
    assert one("attributes.experiment >= 2") == Clause("attributes", "experiment", ">=", 2)
    assert one("attributes.dataset_version = 7").value == 7
    assert one("attributes.parent in (1, 2)").value == (1, 2)


def test_clauses_are_frozen():
    clause = one("metrics.f1 > 0.8")
    with pytest.raises(AttributeError):
        clause.value = 1  # type: ignore[misc]


def test_syntax_help_examples_all_parse():
    examples = [line.strip() for line in SYNTAX_HELP.splitlines() if line.startswith("  ")]
    assert len(examples) >= 3
    for example in examples:
        assert parse(example)


def test_clause_limit():
    assert len(parse(" and ".join(f"metrics.m{i} > 0" for i in range(MAX_CLAUSES)))) == MAX_CLAUSES
    too_many = " and ".join(f"metrics.m{i} > 0" for i in range(MAX_CLAUSES + 1))
    assert f"at most {MAX_CLAUSES}" in str(error(too_many))


def test_length_limit():
    assert "too long" in str(error(f'tags.t = "{"x" * MAX_LENGTH}"'))


# --- what does not, and what the message says --------------------------------------------------


def test_or_is_rejected_with_an_explanation():
    err = error('metrics.f1 > 0.8 OR tags.t = "x"')
    assert "Only “and” is supported" in str(err) and "position 17" in str(err)
    assert err.position == 17


def test_missing_operator_names_the_field_and_position():
    assert str(error("metrics.f1 0.8")).startswith("Expected an operator after “metrics.f1” at position 11")


def test_unknown_entity():
    assert str(error("metric_s.f1 > 1")) == (
        "Unknown entity “metric_s” at position 0: use metrics., params., tags. or attributes."
    )


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("f1 > 0.8", "Expected a field such as metrics.f1 at position 0"),
        ('status = "running"', "did you mean attributes.status?"),
        ("metrics. > 1", "Expected a key after “metrics.” at position 8"),
        ("metrics.`` > 1", "Empty key"),
        ("metrics.val. > 1", "backquote it"),
        ("42 = 1", "Expected a field"),
    ],
)
def test_field_errors(text, fragment):
    assert fragment in str(error(text))


def test_unknown_attribute_lists_the_allowed_ones():
    message = str(error("attributes.owner = 'x'"))
    assert "Unknown attribute “owner” at position 11" in message
    assert "status, name, source, user, id, experiment, dataset_version or parent" in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metrics.f1 >", "Expected a value after “metrics.f1 >” at position 12"),
        ("metrics.f1 > and", "Expected a value at position 13, found “and”"),
        ("params.algorithm = random_forest", 'quote text, e.g. "random_forest"'),
        ("params.x = null", "“null” at position 11 is not supported"),
        ("params.x = None", "“None” at position 11 is not supported"),
        ('tags.t = "open', "Unterminated string starting at position 9"),
        ("tags.t = 'open\\'", "Unterminated string"),
        ("metrics.`open = 1", "Unterminated backquoted key starting at position 8"),
        ("metrics.f1 > 1.2.3", "Malformed number “1.2.3” at position 13"),
        ("metrics.f1 > 1e", "Malformed number “1e”"),
        ("metrics.f1 > 0.8and tags.t = 'x'", "Malformed number “0.8and”"),
        ("metrics.f1 > - 1", "Unexpected character “-” at position 13"),
        ("metrics.f1 > 1e999", "out of range"),
        ("metrics.f1 > 1 & tags.t = 'x'", "Unexpected character “&” at position 15"),
        ("metrics.f1 > 1 tags.t = 'x'", "Unexpected “tags.t” at position 15: expected “and”"),
        ("metrics.f1 > 1 )", "Unexpected “)”"),
        ("metrics.f1 > 1 and", "Expected a clause after “and” at position 15"),
        ("and metrics.f1 > 1", "found “and”"),
        ("tags.t not like 'x'", "Expected “in” after “not” at position 11"),
        ("tags.t => 'x'", "Expected a value after “tags.t =” at position 8, found “>”"),
    ],
)
def test_syntax_errors(text, fragment):
    assert fragment in str(error(text))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("tags.t in ()", "Empty list after “tags.t in” at position 10"),
        ("tags.t in 'a'", "Expected “(” after “tags.t in” at position 10"),
        ("tags.t in ('a',)", "Expected a value after “,” at position 15"),
        ("tags.t in ('a' 'b')", "Expected “,” or “)” in the list opened at position 10"),
        ("tags.t in ('a'", "found the end"),
        ("tags.t = ('a')", "needs “in” or “not in”"),
    ],
)
def test_list_errors(text, fragment):
    assert fragment in str(error(text))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('metrics.f1 = "0.8"', "metric values are numbers: write 0.8 without quotes"),
        ('metrics.f1 = "high"', 'metric values are numbers, not text ("high")'),
        ("metrics.f1 in (1, 2)", "metrics support =, !=, >, >=, <, <=, not “in”"),
        ("metrics.f1 like 0.8", "not “like”"),
        ("params.max_depth > 'deep'", "“>” compares params as numbers, not text"),
        ('params.max_depth < "5"', "write 5 without quotes"),
        ("params.algorithm like 5", '“like” patterns are text; quote it: "5"'),
        ("tags.version = 5", 'tag values are text; quote it: "5"'),
        ("tags.version in ('a', 2)", "tag values are text"),
        ("tags.version > 'a'", "tags support =, !=, like, ilike, in, not in, not “>”"),
        ("attributes.status = 'done'", "attributes.status is one of running, finished, failed or killed, not 'done'"),
        ("attributes.status like 'run%'", "attributes.status supports =, !=, in, not in, not “like”"),
        ("attributes.source = 'uploaded'", "one of trained or logged"),
        ("attributes.user = 3", 'attributes.user values are text; quote it: "3"'),
        ("attributes.name > 'a'", "not “>”"),
        ("attributes.id = 1.5", "attributes.id is a whole number, not 1.5"),
        ("attributes.experiment = '3'", "attributes.experiment is a number: write 3 without quotes"),
        ("attributes.parent like 'x'", "not “like”"),
    ],
)
def test_type_rules_name_the_clause(text, fragment):
    message = str(error(text))
    assert f"Invalid clause “{text}” at position 0" in message
    assert fragment in message


def test_type_error_points_at_the_offending_clause_not_the_first():
    err = error("metrics.f1 > 0.8 and tags.v = 2")
    assert "Invalid clause “tags.v = 2” at position 21" in str(err) and err.position == 21


def test_search_error_is_a_value_error():
    assert isinstance(error("metrics.f1 >"), ValueError)


# --- ordering ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.f1", Ordering("metrics", "f1", False)),
        ("-metrics.f1", Ordering("metrics", "f1", True)),
        ("params.max_depth", Ordering("params", "max_depth", False)),
        ("-tags.team", Ordering("tags", "team", True)),
        ("metrics.`val loss`", Ordering("metrics", "val loss", False)),
        ("metric.val.loss", Ordering("metrics", "val.loss", False)),
        ("started_at", Ordering("attributes", "started_at", False)),
        ("-ended_at", Ordering("attributes", "ended_at", True)),
        ("name", Ordering("attributes", "name", False)),
        ("-status", Ordering("attributes", "status", True)),
        ("ID", Ordering("attributes", "id", False)),
        ("attributes.started_at", Ordering("attributes", "started_at", False)),
        (" -attr.started_at ", Ordering("attributes", "started_at", True)),
    ],
)
def test_ordering_forms(text, expected):
    assert parse_ordering(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "Empty ordering"),
        ("  ", "Empty ordering"),
        ("-", "Expected a field such as metrics.f1 at position 1"),
        ("--metrics.f1", "Unexpected character “-” at position 1"),
        ("f1", "Cannot order by “f1” at position 0: use started_at, ended_at, name, status, id"),
        ("attributes.user", "Cannot order by attributes.user"),
        ("metricz.f1", "Unknown entity “metricz”"),
        ("metrics.f1 tags.t", "Unexpected “tags.t” at position 11: order by a single field"),
        ("metrics.f1,-started_at", "Unexpected “,”"),
    ],
)
def test_ordering_errors(text, fragment):
    with pytest.raises(SearchError) as caught:
        parse_ordering(text)
    assert fragment in str(caught.value)
