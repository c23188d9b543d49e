//! Exports the pgwire plugin from a shared library.
aiondb_sdk::export_plugin!(aiondb_plugin_pgwire::plugin_module);
