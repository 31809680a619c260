{
  "targets": [
    {
      "target_name": "vigil_native",
      "sources": [
        "native/vigil.cc", "native/common.cc", "native/object.cc", "native/attach.cc",
        "native/maps.cc", "native/reader.cc", "native/btf.cc", "native/inventory.cc",
        "native/privileges.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wno-missing-field-initializers", "<!@(pkg-config --cflags libbpf)"],
      "cflags_cc!": ["-fno-exceptions"],
      "libraries": ["<!@(pkg-config --libs libbpf)"]
    }
  ]
}
