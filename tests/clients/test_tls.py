"""TLS on both listeners (`serve --tls-cert --tls-key`): the HTTP API over
https with a certificate the client checks, the PostgreSQL listener with
psycopg (libpq) at sslmode=verify-full, and a plain-text PostgreSQL login
refused before any password is sent."""

import os
import pathlib
import subprocess
import tempfile

import psycopg
import pytest
import requests

from conftest import API_KEY, APP_KEY


@pytest.fixture(scope="module")
def tls_server():
    with tempfile.TemporaryDirectory() as directory:
        directory = pathlib.Path(directory)
        cert, key = directory / "cert.pem", directory / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
        env = dict(os.environ, EVIDENT_API_KEY=API_KEY, EVIDENT_APP_KEY=APP_KEY, EVIDENT_LOG="warn")
        process = subprocess.Popen(
            [os.environ["EVIDENT_BIN"], "serve", "--listen", "127.0.0.1:0", "--pg-listen", "127.0.0.1:0",
             "--data-dir", str(directory / "data"), "--tls-cert", str(cert), "--tls-key", str(key)],
            stdout=subprocess.PIPE, env=env, text=True)
        base = postgres = None
        for line in process.stdout:
            if line.startswith("evident postgres listening on "):
                postgres = line.split()[4]
                assert "TLS required" in line, line
            if line.startswith("evident listening on "):
                base = line.split()[3]
                break
        assert base.startswith("https://"), base
        yield {"base": base, "postgres": postgres, "cert": str(cert)}
        process.terminate()
        process.wait(timeout=30)


def test_the_http_api_speaks_tls(tls_server):
    response = requests.post(f"{tls_server['base']}/api/v2/logs", headers={"DD-API-KEY": API_KEY},
                             json=[{"message": "over tls"}], verify=tls_server["cert"])
    assert response.status_code == 202, response.text
    plain = tls_server["base"].replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{plain}/api/v1/validate", headers={"DD-API-KEY": API_KEY}, timeout=5)


def test_postgres_logins_need_tls(tls_server):
    host, port = tls_server["postgres"].rsplit(":", 1)
    with psycopg.connect(host=host, port=port, user="analyst", dbname="evident", password=APP_KEY,
                         sslmode="verify-full", sslrootcert=tls_server["cert"], autocommit=True) as connection:
        assert connection.execute("SELECT 1 + 1").fetchone() == (2,)
        assert connection.pgconn.ssl_in_use
    with pytest.raises(psycopg.OperationalError, match="requires TLS"):
        psycopg.connect(host=host, port=port, user="analyst", dbname="evident", password=APP_KEY, sslmode="disable")
