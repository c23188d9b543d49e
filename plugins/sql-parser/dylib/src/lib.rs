//! Exports the sql-parser plugin from a shared library.
aiondb_sdk::export_plugin!(aiondb_sql_parser::plugin_module);
