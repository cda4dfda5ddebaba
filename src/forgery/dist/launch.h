#pragma once
// `--nproc N`: this program as N worker processes on this machine (ranks 0..N-1), with the
// environment torchrun would give them (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1, MASTER_PORT: a free port). The launcher forwards SIGINT and SIGTERM
// to every worker (they stop after the same step and save), reports each worker that fails,
// stops the rest if they outlive a failure by more than `grace_seconds` (they cannot go on
// without it; the time lets them name it; SIGKILL 10 s later), and returns the first failure's
// exit status (0 when all succeed).
namespace forgery::dist {

// Set in the environment of the workers: a worker never launches workers itself.
inline constexpr const char* kWorkerVariable = "FORGERY_WORKER";
bool is_worker();

int run_local_workers(int nproc, char** argv, double grace_seconds);

}  // namespace forgery::dist
