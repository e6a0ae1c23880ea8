"""psycopg 3 (libpq, the extended query protocol) against evident's
PostgreSQL listener: prepared statements, parameters, text and binary
results, errors."""

import datetime

import psycopg
import pytest

from conftest import API_KEY, APP_KEY

BY_NAME = ("SELECT evt, count(*) AS n FROM dd.audit(columns => ARRAY['@evt.name'], filter => 'service:web') "
           "AS (evt VARCHAR) GROUP BY evt ORDER BY evt")
TYPED = ("SELECT ts, email, code, ts > now() - interval '1 hour' AS recent FROM dd.audit("
         "columns => ARRAY['timestamp', '@usr.email', '@http.status_code'], filter => '@evt.name:api_key') "
         "AS (ts TIMESTAMP, email VARCHAR, code BIGINT) ORDER BY code")


def connect(server, password=APP_KEY):
    host, port = server["postgres"].rsplit(":", 1)
    return psycopg.connect(host=host, port=port, user="analyst", dbname="evident", password=password,
                           sslmode="disable", autocommit=True)


def test_prepared_statements_in_text_and_binary(loaded):
    with connect(loaded) as connection:
        assert connection.execute(BY_NAME).fetchall() == [("api_key", 3), ("dashboard", 9)]
        # Prepared on the server, then run again from the prepared form.
        for _ in range(3):
            assert connection.execute(BY_NAME, prepare=True).fetchall() == [("api_key", 3), ("dashboard", 9)]
        for binary in (False, True):
            rows = connection.cursor(binary=binary).execute(TYPED).fetchall()
            assert [row[2] for row in rows] == [200, 204, 208]
            assert [row[1] for row in rows] == ["user0@example.com", "user1@example.com", "user2@example.com"]
            for timestamp, _, _, recent in rows:
                assert isinstance(timestamp, datetime.datetime)
                assert recent is True


PARAMETERIZED = ("SELECT email, code FROM dd.audit(columns => ARRAY['timestamp', '@usr.email', '@http.status_code'], "
                 "filter => %s, from_timestamp => %s) AS (ts TIMESTAMP, email VARCHAR, code BIGINT) "
                 "WHERE code > %s ORDER BY code")


def test_parameters_bind_anywhere_a_literal_may_stand(loaded):
    """Values sent apart from the statement, typed (int, datetime) or not
    (str), in text and in binary, inside dd.audit's arguments too."""
    since = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    with connect(loaded) as connection:
        for binary in (False, True):
            for prepare in (False, True):
                rows = connection.cursor(binary=binary).execute(
                    PARAMETERIZED, ["@evt.name:api_key", since, 200], prepare=prepare).fetchall()
                assert rows == [("user1@example.com", 204), ("user2@example.com", 208)], (binary, prepare)
        # Each run is recorded with its values.
        recorded = connection.execute(
            "SELECT q, p FROM dd.audit(columns => ARRAY['@sql.query', '@sql.parameters'], "
            "filter => '@evt.name:sql_query @sql.surface:postgres') AS (q VARCHAR, p VARCHAR) "
            "WHERE p IS NOT NULL").fetchall()
        assert len(recorded) == 4
        assert all('"@evt.name:api_key"' in parameters and "200" in parameters for _, parameters in recorded)


def test_column_descriptions_come_before_rows(loaded):
    with connect(loaded) as connection:
        cursor = connection.cursor()
        cursor.execute(TYPED)
        assert [column.name for column in cursor.description] == ["ts", "email", "code", "recent"]
        # timestamp, text (SQL strings are PostgreSQL's text), int8, bool
        assert [column.type_code for column in cursor.description] == [1114, 25, 20, 16]


def test_errors_reach_the_client(loaded):
    with connect(loaded) as connection:
        with pytest.raises(psycopg.Error, match="invalid filter at position"):
            connection.execute("SELECT * FROM dd.audit(columns => ARRAY['@a'], filter => '@a:(') AS (a VARCHAR)")
        with pytest.raises(psycopg.Error, match="Cannot cast string 'four'"):
            connection.execute("SELECT %s::BIGINT", ["four"], prepare=True)
        with pytest.raises(psycopg.Error, match="no statement to run|Expected"):
            connection.execute("SELECT * FROM dd.audit(columns => ARRAY['@a']) AS (a VARCHAR) WHERE")
        # The connection is still usable after an error.
        assert connection.execute(BY_NAME).fetchall()[0] == ("api_key", 3)
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        connect(loaded, password="not-a-key")
