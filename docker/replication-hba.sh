#!/bin/sh
# Run once by the postgres image when it creates the database (docker-entrypoint-initdb.d): lets a
# streaming replica (the compose file's optional `postgres-replica`, `--profile replica`) connect
# for replication, with the same password authentication as every other connection.
set -e
echo "host replication all all scram-sha-256" >> "$PGDATA/pg_hba.conf"
