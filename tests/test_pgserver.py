"""The PostgreSQL server the suite starts for the shared store (issue 13): it answers on 127.0.0.1 only, gives each
test a database of its own, and has what the shared store's leases will stand on: psycopg's connection pool,
transactions seen by other connections once committed, and ``FOR UPDATE SKIP LOCKED`` (a row one worker holds is
passed over by another, not waited for)."""

from __future__ import annotations

import psycopg
from pgserver import Server
from psycopg_pool import ConnectionPool


def test_the_server_answers_on_loopback_with_a_database_per_test(postgres: Server) -> None:
    url = postgres.create_database("answers")
    with psycopg.connect(url) as db:
        assert db.execute("SELECT inet_server_addr()::text, current_database()").fetchone() == ("127.0.0.1/32",
                                                                                                 "answers")
        assert db.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        db.execute("CREATE TABLE claims (id serial PRIMARY KEY, text text NOT NULL)")
        db.execute("INSERT INTO claims (text) VALUES (%s)", ("黄仁勋与扎克伯格在SIGGRAPH 2024对谈",))
        assert db.execute("SELECT text FROM claims").fetchone() == ("黄仁勋与扎克伯格在SIGGRAPH 2024对谈",)


def test_a_row_one_worker_leases_is_skipped_by_another(postgres: Server) -> None:
    url = postgres.create_database("leases")
    with psycopg.connect(url, autocommit=True) as db:
        db.execute("CREATE TABLE sources (name text PRIMARY KEY)")
        db.execute("INSERT INTO sources VALUES ('a'), ('b')")
    with ConnectionPool(url, min_size=2, max_size=2, open=True) as pool, pool.connection() as one, \
            pool.connection() as two:
        lease = "SELECT name FROM sources ORDER BY name LIMIT 1 FOR UPDATE SKIP LOCKED"
        assert one.execute(lease).fetchone() == ("a",)  # held by the first, its transaction open
        assert two.execute(lease).fetchone() == ("b",)  # the second is not kept waiting: it takes the next
        two.rollback()
        one.commit()
        assert two.execute(lease).fetchone() == ("a",)  # released: anyone's again
        two.rollback()
