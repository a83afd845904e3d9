from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qkv.core.parse import parse_input_file, parse_matrix, parse_number, parse_tokens
from qkv.errors import InputError


def test_json_rows_keep_exact_decimals():
    assert parse_matrix("[[1, 2], [3, 0.1]]").rows == [[1, 2], [3, Fraction(1, 10)]]
    assert parse_matrix("[1, -2.5]").rows == [[1, Fraction(-5, 2)]]


def test_bracket_rows_one_per_line_as_in_the_article():
    text = "[1, 2, 1, 2, 1]\n[1, 1, 1, 2, 1]\n[3, 2, 1, 1, 1]\n"
    assert parse_matrix(text).rows[2] == [3, 2, 1, 1, 1]


def test_csv_with_token_column_and_unicode_minus():
    p = parse_matrix("笔,1,−2\n记,3,4e-1\n")
    assert p.labels == ["笔", "记"]
    assert p.rows == [[1, -2], [3, Fraction(2, 5)]]
    assert parse_matrix("1 2\t3\n4 5 6").rows == [[1, 2, 3], [4, 5, 6]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("[[1,2],[3]]", "X row 2 has 1 number, expected 2"),
        ("1,2,3\n4,5", "X row 2 has 2 numbers, expected 3"),
        ("1 2\n3 x", "X row 2, column 2: 'x' is not a number"),
        ("[[1, NaN]]", "X row 1, column 2 is NaN"),
        ("[[1, nan]]", "NaN or Inf"),
        ("1,inf", "X row 1, column 2 is inf"),
        ("", "X is empty"),
        ("[[]]", "X is empty"),
        ("[[1,2]", "not valid JSON"),
        ('[[1,"a"]]', "'a' is not a number"),
        ("[[1,true]]", "not a number"),
        ("[1,2]\n[3,4", "row 2 does not end with"),
    ],
)
def test_bad_matrices(text, message):
    with pytest.raises(InputError, match=message):
        parse_matrix(text)


def test_input_file_json_object():
    kw = parse_input_file(
        '{"q": [[1,0]], "k": [[1,0],[0,1]], "v": [[1],[2]], "key_tokens": ["a", "b"]}', "f.json"
    )
    assert kw["k"] == [[1, 0], [0, 1]] and kw["key_tokens"] == ["a", "b"]
    with pytest.raises(InputError, match="unknown key 'z'"):
        parse_input_file('{"z": 1}', "f.json")


def test_tokens():
    assert parse_tokens("笔,记,本") == ["笔", "记", "本"]
    assert parse_tokens("a b c") == ["a", "b", "c"]
    with pytest.raises(InputError):
        parse_tokens("a,,b")


@given(st.text(max_size=200))
def test_parser_never_crashes_on_arbitrary_text(text):
    try:
        parse_matrix(text)
    except InputError as e:
        assert "\n" not in str(e)


@given(
    st.lists(
        st.lists(st.fractions(max_denominator=50), min_size=3, max_size=3), min_size=1, max_size=5
    )
)
def test_round_trip_through_csv(rows):
    text = "\n".join(",".join(str(x) for x in row) for row in rows)
    assert parse_matrix(text).rows == rows
    assert parse_number(str(rows[0][0]), "x") == rows[0][0]


def test_csv_header_row_names_the_columns_and_fractions_stay_exact():
    p = parse_matrix("token,a,b,c\n我,1,0,1/3\n爱,0,2,−1/2\n")
    assert p.columns == ["a", "b", "c"] and p.labels == ["我", "爱"]
    assert p.rows == [[1, 0, Fraction(1, 3)], [0, 2, Fraction(-1, 2)]]
    assert parse_matrix("a;b\n1;2\n").columns == ["a", "b"]  # no label column
    assert parse_matrix(",a,b\nx,1,2\n").columns == ["a", "b"]  # empty name over the labels
    assert parse_matrix("1,2\n3,4\n").columns is None
    assert parse_input_file("a,b\n1,2\n", "x.csv")["columns"] == ["a", "b"]
    with pytest.raises(InputError, match="header row has 3 names for 2 columns"):
        parse_matrix("a,b,c\n1,2\n")


def test_semicolons_on_one_line_separate_rows_as_matlab_writes_them():
    """'1,2;3,4' was read as one row of four numbers, silently: a 2x2 X became one token."""
    from qkv.core.parse import parse_matrix

    for text in ("1,2;3,4", "1 2; 3 4", " 1, 2 ; 3, 4 ;"):
        assert parse_matrix(text).rows == [[1, 2], [3, 4]], text
    assert parse_matrix("1;2;3\n4;5;6").rows == [[1, 2, 3], [4, 5, 6]]  # a CSV file's cells
