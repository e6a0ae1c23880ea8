"""SQL benchmark: the same events in evident (loaded over HTTP, queried
through `dd.audit` on POST /api/v1/sql) and in DuckDB (native table), the
same questions asked of both, medians printed side by side.

    python bench/sql.py --evident target/release/evident --events 10000000

Questions: count by event name over everything, the top 10 users of the
last 24 hours, and a needle filter (`@usr.email:<mid-frequency user>`)
counted and returned as rows.
"""

import time

from search import duckdb_table, loaded_evident, mid_frequency_user, post, setup, timed


def sql(base, statement):
    return post(base, "/api/v1/sql", {"query": statement})["rows"]


def main():
    args, work, events_path = setup(__doc__)
    user = mid_frequency_user(events_path)

    evident_questions = {
        "count by event name": """SELECT evt, count(*) AS n FROM dd.audit(columns => ARRAY['@evt.name'])
                                  AS (evt VARCHAR) GROUP BY evt ORDER BY n DESC, evt""",
        "top 10 users, last 24 h": """SELECT user_email, count(*) AS n FROM dd.audit(
                                        columns => ARRAY['@usr.email'],
                                        from_timestamp => now() - interval '24 hours', to_timestamp => now())
                                      AS (user_email VARCHAR) GROUP BY user_email ORDER BY n DESC, user_email LIMIT 10""",
        "needle filter, count": f"""SELECT count(*) FROM dd.audit(columns => ARRAY['timestamp'],
                                     filter => '@usr.email:{user}') AS (ts TIMESTAMP)""",
        "needle filter, rows": f"""SELECT ts, evt, ip FROM dd.audit(columns => ARRAY['timestamp', '@evt.name', '@network.client.ip'],
                                    filter => '@usr.email:{user}') AS (ts TIMESTAMP, evt VARCHAR, ip VARCHAR)""",
    }

    with loaded_evident(args, work, events_path) as base:
        evident_times = {name: timed(lambda statement=statement: sql(base, statement), args.runs)
                         for name, statement in evident_questions.items()}

    connection = duckdb_table(work, "sql", events_path)
    now_ms = int(time.time() * 1000)
    duck_questions = {
        "count by event name": lambda: connection.execute(
            "SELECT evt.name AS evt, count(*) AS n FROM events GROUP BY 1 ORDER BY n DESC, evt").fetchall(),
        "top 10 users, last 24 h": lambda: connection.execute(
            "SELECT usr.email, count(*) AS n FROM events WHERE timestamp >= ? AND timestamp < ? "
            "GROUP BY 1 ORDER BY n DESC, 1 LIMIT 10", [now_ms - 86_400_000, now_ms]).fetchall(),
        "needle filter, count": lambda: connection.execute(
            "SELECT count(*) FROM events WHERE usr.email = ?", [user]).fetchall(),
        "needle filter, rows": lambda: connection.execute(
            "SELECT timestamp, evt.name, network.client.ip FROM events WHERE usr.email = ?", [user]).fetchall(),
    }
    duck_times = {name: timed(question, args.runs) for name, question in duck_questions.items()}
    connection.close()

    print(f"events: {args.events:,}, runs: {args.runs} (medians), needle user: {user}, settled {args.settle:.0f} s after loading")
    print(f"{'question':26} {'evident':>12} {'duckdb':>12} {'evident/duckdb':>15} {'speed-up':>9}  rows (evident / duckdb)")
    for name in evident_questions:
        (evident_seconds, evident_rows), (duck_seconds, duck_rows) = evident_times[name], duck_times[name]
        # evident also holds the audit events of the statements themselves.
        evident_rows = [row for row in evident_rows if row[0] not in ("sql_query", None)]
        same = "" if len(evident_rows) == len(duck_rows) else "  ROW COUNTS DIFFER"
        print(f"{name:26} {evident_seconds * 1000:10.1f}ms {duck_seconds * 1000:10.1f}ms {evident_seconds / duck_seconds:14.3f}x"
              f" {duck_seconds / evident_seconds:8.1f}x  {len(evident_rows)} / {len(duck_rows)}{same}")
        if name != "needle filter, rows" and [list(row) for row in duck_rows] != evident_rows:
            print(f"  evident: {evident_rows[:3]} ...\n  duckdb:  {[list(row) for row in duck_rows][:3]} ...")


if __name__ == "__main__":
    main()
