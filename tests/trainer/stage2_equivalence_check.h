// Shared by the thread and MPI variants of the stage-2 equivalence test: W ranks x B/W samples
// must give the same reduced gradients as 1 rank x B samples.
#pragma once

namespace agreid::comm {
class Communicator;
}

namespace agreid::trainer::testing {

// Every rank of `comm` calls it. Builds the same small CLIP re-ID model (float64) on every rank,
// computes the stage-2 objective (ID, triplet, i2t, Otsu-masked attribute guidance, memory bank)
// on this rank's whole identities of a fixed global batch, reduces gradients with the
// GradientReducer, and compares them with a one-process computation over the whole batch.
// Returns the largest relative difference over all parameters.
double stage2GradientMismatch(comm::Communicator& comm);

}  // namespace agreid::trainer::testing
