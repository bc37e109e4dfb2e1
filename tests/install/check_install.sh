#!/usr/bin/env bash
# cmake --install into a temporary prefix, then build and run a consumer
# with find_package(redum) and with pkg-config:
#   check_install.sh BUILD_DIR SOURCE_DIR
set -eu
build=$1 src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
cmake -S "$src/tests/install/consumer" -B "$tmp/b" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/b" >/dev/null
"$tmp/b/consumer"
cc "$src/tests/install/consumer/main.c" -o "$tmp/pc" \
  $(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --cflags --libs redum)
"$tmp/pc"
echo "2 passed, 0 failed"
