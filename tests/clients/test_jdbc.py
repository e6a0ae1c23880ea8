"""pgjdbc, the driver of Metabase and most JVM BI tools, against evident's
PostgreSQL listener. The checks live in jdbc/JdbcClient.java (run from
source by `java`); this test starts it and shows what it printed."""

import os
import pathlib
import subprocess

from conftest import APP_KEY

DRIVER = os.environ.get("EVIDENT_PGJDBC", "/usr/share/java/postgresql.jar")
CLIENT = pathlib.Path(__file__).parent / "jdbc" / "JdbcClient.java"


def test_jdbc_browses_the_catalog_and_runs_dashboard_sql(loaded):
    assert os.path.exists(DRIVER), f"{DRIVER} not found: install Debian's libpostgresql-jdbc-java"
    finished = subprocess.run(
        ["java", "-cp", DRIVER, str(CLIENT), loaded["postgres"], APP_KEY],
        capture_output=True, text=True, timeout=300)
    print(finished.stdout)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert "ok the connection works after an error" in finished.stdout
