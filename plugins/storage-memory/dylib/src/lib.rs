//! Exports the in_memory storage plugin from a shared library.
aiondb_sdk::export_plugin!(aiondb_storage_memory::plugin_module);
