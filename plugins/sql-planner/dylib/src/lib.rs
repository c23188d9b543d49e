//! Exports the sql-planner plugin from a shared library.
aiondb_sdk::export_plugin!(aiondb_plugin_sql_planner::plugin_module);
