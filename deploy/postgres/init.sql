-- Runs once, when the PostgreSQL volume is created: the warehouse lives beside Airflow's metadata, in its
-- own database owned by its own role. The BI role (read-only, views only) is created here too; its grants
-- are given by `tonghop warehouse grant-bi` after the warehouse is migrated (airflow-init does both).
CREATE ROLE tonghop LOGIN PASSWORD :'warehouse_password';
CREATE DATABASE tonghop OWNER tonghop;
CREATE ROLE tonghop_bi LOGIN PASSWORD :'bi_password';
