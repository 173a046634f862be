// Version and build-profile facts.
#pragma once

#define KILN_VERSION_MAJOR 0
#define KILN_VERSION_MINOR 1
#define KILN_VERSION_PATCH 0

#if defined(__cpp_exceptions) || defined(__EXCEPTIONS)
#define KILN_HAS_EXCEPTIONS 1
#else
#define KILN_HAS_EXCEPTIONS 0
#endif
