//! Exports the HTTP observability plugin from a shared library.
aiondb_sdk::export_plugin!(aiondb_plugin_http::plugin_module);
