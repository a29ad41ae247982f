{
  "targets": [
    {
      "target_name": "iamdb_data_path_asan",
      "sources": ["../data_path.c", "../v8_heap.cc"],
      "cflags!": ["-O3"],
      "cflags": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined,float-cast-overflow", "-fno-sanitize-recover=all", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-fsanitize=address,undefined,float-cast-overflow"]
    }
  ]
}
