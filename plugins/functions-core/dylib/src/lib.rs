//! Exports the functions-core plugin from a shared library.
aiondb_sdk::export_plugin!(aiondb_plugin_functions_core::plugin_module);
