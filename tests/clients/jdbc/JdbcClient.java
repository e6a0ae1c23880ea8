// pgjdbc (the driver Metabase and most JVM BI tools use) against evident's
// PostgreSQL listener: what such a tool does on connecting, browsing the
// catalog and running a dashboard's SQL. Prints one line per check and
// exits with 1 on the first failed one.
//
// java -cp /usr/share/java/postgresql.jar JdbcClient.java HOST:PORT APP_KEY

import java.sql.*;
import java.util.*;

public class JdbcClient {
    static final String BY_NAME = "SELECT evt, count(*) AS n FROM dd.audit(columns => ARRAY['@evt.name'], "
            + "filter => 'service:web') AS (evt VARCHAR) GROUP BY evt ORDER BY evt";
    static final String TYPED = "SELECT ts, email, code, ts > now() - interval '1 hour' AS recent FROM dd.audit("
            + "columns => ARRAY['timestamp', '@usr.email', '@http.status_code'], filter => '@evt.name:api_key') "
            + "AS (ts TIMESTAMP, email VARCHAR, code BIGINT) ORDER BY code";
    // What a Grafana time-series panel sends once its macros are expanded.
    static final String PANEL = "SELECT floor(extract(epoch from ts) / 60) * 60 AS \"time\", count(*) AS events "
            + "FROM dd.audit(columns => ARRAY['timestamp'], filter => 'service:web') AS (ts TIMESTAMP) "
            + "WHERE ts BETWEEN '2000-01-01T00:00:00Z' AND '2100-01-01T00:00:00Z' GROUP BY 1 ORDER BY 1";

    static void check(boolean condition, String what) {
        if (!condition) {
            System.out.println("FAILED " + what);
            System.exit(1);
        }
        System.out.println("ok " + what);
    }

    static List<List<String>> rows(ResultSet result) throws SQLException {
        List<List<String>> rows = new ArrayList<>();
        int columns = result.getMetaData().getColumnCount();
        while (result.next()) {
            List<String> row = new ArrayList<>();
            for (int column = 1; column <= columns; column++) row.add(result.getString(column));
            rows.add(row);
        }
        return rows;
    }

    static List<List<String>> query(Connection connection, String sql) throws SQLException {
        try (Statement statement = connection.createStatement(); ResultSet result = statement.executeQuery(sql)) {
            return rows(result);
        }
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://" + args[0] + "/evident?sslmode=disable&ApplicationName=jdbc-test";
        try {
            DriverManager.getConnection(url, "analyst", "not-a-key").close();
            check(false, "a wrong key is refused");
        } catch (SQLException refused) {
            check(refused.getMessage().contains("authentication failed"), "a wrong key is refused: " + refused.getMessage());
        }

        try (Connection connection = DriverManager.getConnection(url, "analyst", args[1])) {
            // What a tool reads first.
            DatabaseMetaData metadata = connection.getMetaData();
            check(metadata.getDatabaseProductName().equals("PostgreSQL"), "product name");
            check(metadata.getDatabaseMajorVersion() >= 10, "major version " + metadata.getDatabaseMajorVersion());
            Set<String> schemas = new HashSet<>();
            try (ResultSet result = metadata.getSchemas()) {
                while (result.next()) schemas.add(result.getString("TABLE_SCHEM"));
            }
            check(schemas.contains("public") && schemas.contains("pg_catalog"), "schemas " + schemas);
            try (ResultSet result = metadata.getTables(null, "public", "%", new String[] {"TABLE", "VIEW"})) {
                check(rows(result).isEmpty(), "tables of public (events are read through dd.audit)");
            }
            try (ResultSet result = metadata.getColumns(null, "pg_catalog", "pg_class", "%")) {
                List<String> names = new ArrayList<>();
                while (result.next()) names.add(result.getString("COLUMN_NAME"));
                check(names.contains("relname") && names.contains("relkind"), "columns of pg_catalog.pg_class");
            }
            check(query(connection, "SELECT current_database(), current_schema()").get(0)
                    .equals(List.of("evident", "public")), "current database and schema");
            check(query(connection, "SELECT 'pg_catalog.pg_class'::regclass::oid").size() == 1, "regclass casts");
            check(query(connection, "SELECT table_name FROM information_schema.tables "
                    + "WHERE table_schema = 'pg_catalog' AND table_name = 'pg_type'").size() == 1,
                    "information_schema.tables");
            check(query(connection, "SHOW TRANSACTION ISOLATION LEVEL").get(0).get(0).equals("read committed"),
                    "SHOW");

            // A transaction around a read, as tools with autocommit off do.
            connection.setAutoCommit(false);
            connection.setReadOnly(true);
            check(query(connection, BY_NAME).equals(List.of(List.of("api_key", "3"), List.of("dashboard", "9"))),
                    "dd.audit inside a transaction");
            connection.commit();
            connection.rollback();
            connection.setAutoCommit(true);

            // Past the driver's prepare threshold (5) the statement is named
            // on the server and results switch to binary.
            try (PreparedStatement statement = connection.prepareStatement(TYPED)) {
                for (int run = 1; run <= 7; run++) {
                    try (ResultSet result = statement.executeQuery()) {
                        ResultSetMetaData columns = result.getMetaData();
                        check(columns.getColumnType(1) == Types.TIMESTAMP && columns.getColumnType(2) == Types.VARCHAR
                                && columns.getColumnType(3) == Types.BIGINT && columns.getColumnType(4) == Types.BIT,
                                "column types, run " + run);
                        List<Long> codes = new ArrayList<>();
                        List<String> emails = new ArrayList<>();
                        while (result.next()) {
                            check(result.getTimestamp(1) != null && result.getBoolean(4), "timestamp and boolean, run " + run);
                            emails.add(result.getString(2));
                            codes.add(result.getLong(3));
                        }
                        check(codes.equals(List.of(200L, 204L, 208L)), "codes, run " + run + ": " + codes);
                        check(emails.equals(List.of("user0@example.com", "user1@example.com", "user2@example.com")),
                                "emails, run " + run);
                    }
                }
            }

            // `?` parameters, typed by the driver, inside dd.audit's arguments too.
            try (PreparedStatement statement = connection.prepareStatement(
                    "SELECT email, code FROM dd.audit(columns => ARRAY['timestamp', '@usr.email', '@http.status_code'], "
                    + "filter => ?, from_timestamp => ?) AS (ts TIMESTAMP, email VARCHAR, code BIGINT) "
                    + "WHERE code > ? ORDER BY code")) {
                for (int run = 1; run <= 6; run++) {
                    statement.setString(1, "@evt.name:api_key");
                    statement.setTimestamp(2, Timestamp.valueOf("2000-01-01 00:00:00"));
                    statement.setLong(3, 200L + run % 2 * 4);
                    List<List<String>> found = rows(statement.executeQuery());
                    List<List<String>> expected = run % 2 == 1
                            ? List.of(List.of("user2@example.com", "208"))
                            : List.of(List.of("user1@example.com", "204"), List.of("user2@example.com", "208"));
                    check(found.equals(expected), "parameters, run " + run + ": " + found);
                }
            }

            List<List<String>> panel = query(connection, PANEL);
            long total = 0;
            for (List<String> row : panel) total += Long.parseLong(row.get(1));
            check(total == 12 && Double.parseDouble(panel.get(0).get(0)) % 60 == 0, "grafana panel " + panel);

            try {
                query(connection, "SELECT * FROM dd.audit(columns => ARRAY['@a'], filter => '@a:(') AS (a VARCHAR)");
                check(false, "a bad filter fails");
            } catch (SQLException error) {
                check(error.getMessage().contains("invalid filter at position"), "a bad filter fails: " + error.getMessage());
            }
            check(query(connection, BY_NAME).size() == 2, "the connection works after an error");
        }
    }
}
