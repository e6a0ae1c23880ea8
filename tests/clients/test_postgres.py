"""psycopg 3 (libpq, the extended query protocol) against evident's
PostgreSQL listener: prepared statements, text and binary results, errors."""

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
        with pytest.raises(psycopg.Error, match="parameters"):
            connection.execute("SELECT * FROM dd.audit(columns => ARRAY['@a'], filter => %s) AS (a VARCHAR)", ["x"])
        # The connection is still usable after an error.
        assert connection.execute(BY_NAME).fetchall()[0] == ("api_key", 3)
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        connect(loaded, password="not-a-key")
