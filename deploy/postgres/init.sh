#!/bin/sh
# Passes the passwords from the environment to init.sql (psql variables), never writing them to a file.
set -e
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v warehouse_password="$TONGHOP_WAREHOUSE_PASSWORD" -v bi_password="$TONGHOP_BI_PASSWORD" \
  -f /docker-entrypoint-initdb.d/init.sql.in
