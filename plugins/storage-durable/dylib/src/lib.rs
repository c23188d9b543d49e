//! Exports the durable storage plugin from a shared library.
aiondb_sdk::export_plugin!(aiondb_storage_durable::plugin_module);
