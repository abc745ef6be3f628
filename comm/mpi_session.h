// MpiSession: RAII MPI_Init_thread / MPI_Finalize (like gloo's MPIScope). Create one in main()
// before any MpiCommunicator; it requests MPI_THREAD_MULTIPLE because the gradient reducer
// issues collectives from a communication thread while the main thread computes.
#pragma once

namespace agreid::comm {

class MpiSession {
 public:
  MpiSession();
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }
  int localRank() const { return local_rank_; }
  int localSize() const { return local_size_; }  // ranks on this node
  int threadLevel() const { return thread_level_; }

  // Aborts every rank of MPI_COMM_WORLD with `code` (after a CommError). Does not return.
  [[noreturn]] static void abortAll(int code);

 private:
  bool owns_ = false;
  int rank_ = 0;
  int size_ = 1;
  int local_rank_ = 0;
  int local_size_ = 1;
  int thread_level_ = 0;
};

}  // namespace agreid::comm
