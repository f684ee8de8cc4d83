"""The Airflow glue of tonghop, shared by the DAG files (dags/) and the plugin (plugins/): the asset a
consolidation emits, the default arguments and the failure callback, the task bodies every DAG runs, and
the reporting-status page mounted in the api-server. The domain package `tonghop` never imports this one.
"""
