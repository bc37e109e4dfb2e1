# Dependencies, all from Debian and found with pkg-config (tools/install-deps
# installs them). They are bundled into one interface target, redum_deps.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(LIBRE REQUIRED IMPORTED_TARGET libre>=1.1.0)
pkg_check_modules(CK REQUIRED IMPORTED_TARGET ck>=0.7.0)

# libre's headers test these instead of probing the platform themselves.
set_property(TARGET PkgConfig::LIBRE APPEND PROPERTY
  INTERFACE_COMPILE_DEFINITIONS HAVE_INTTYPES_H HAVE_STDBOOL_H HAVE_INET6)

add_library(redum_deps INTERFACE)
target_link_libraries(redum_deps INTERFACE PkgConfig::LIBRE PkgConfig::CK Threads::Threads)
target_compile_definitions(redum_deps INTERFACE _GNU_SOURCE)

if(REDUM_BUILD_TESTS)
  pkg_check_modules(CRITERION REQUIRED IMPORTED_TARGET criterion>=2.4)
endif()
