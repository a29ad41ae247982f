{
  "targets": [
    {
      "target_name": "iamdb_data_path",
      "sources": ["native/data_path.c", "native/v8_heap.cc"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O2", "-Wall", "-Wextra"] }
    }
  ]
}
