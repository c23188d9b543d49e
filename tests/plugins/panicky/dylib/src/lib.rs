aiondb_sdk::export_plugin!(aiondb_test_plugin_panicky::plugin_module);
