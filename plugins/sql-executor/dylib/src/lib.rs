//! Exports the sql-executor plugin from a shared library.
aiondb_sdk::export_plugin!(aiondb_plugin_sql_executor::plugin_module);
