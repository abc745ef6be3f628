// AGREID_MPI_CHECK(call): throws CommError naming the MPI call, the location and MPI's error
// string when `call` does not return MPI_SUCCESS. Communicators set MPI_ERRORS_RETURN on their
// communicator so that failures reach this check instead of aborting inside MPI.
#pragma once

#include <mpi.h>

#include <string>

#include "comm/comm_error.h"

namespace agreid::comm {

inline void checkMpi(int result, const char* call, const char* file, int line) {
  if (result == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {0};
  int length = 0;
  MPI_Error_string(result, text, &length);
  throw CommError(std::string("MPI error in ") + call + " at " + file + ":" + std::to_string(line) +
                  ": " + std::string(text, static_cast<size_t>(length)));
}

}  // namespace agreid::comm

#define AGREID_MPI_CHECK(call) ::agreid::comm::checkMpi((call), #call, __FILE__, __LINE__)
