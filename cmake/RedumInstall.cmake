# Install the library, its headers, a CMake package (redum::redum) and redum.pc.
include(CMakePackageConfigHelpers)
install(TARGETS redum redum_deps EXPORT redumTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/redum DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  FILES_MATCHING PATTERN "*.h")
install(FILES ${CMAKE_BINARY_DIR}/include/redum/version.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/redum)
install(EXPORT redumTargets NAMESPACE redum::
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/redum)
configure_package_config_file(cmake/redumConfig.cmake.in
  ${CMAKE_BINARY_DIR}/redumConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/redum)
write_basic_package_version_file(${CMAKE_BINARY_DIR}/redumConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/redumConfig.cmake
  ${CMAKE_BINARY_DIR}/redumConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/redum)
file(RELATIVE_PATH REDUM_PC_TO_PREFIX
  "/prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/prefix")
configure_file(cmake/redum.pc.in ${CMAKE_BINARY_DIR}/redum.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/redum.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
