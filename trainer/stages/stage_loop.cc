#include "trainer/stages/stage_loop.h"

#include <chrono>

#include "base/error.h"
#include "comm/communicator.h"
#include "trainer/engine/hooks.h"
#include "trainer/engine/metrics_hook.h"

namespace agreid::trainer {

StageOutcome runStageLoop(const StageLoopOptions& opts, StageParts parts, RunMetrics& metrics,
                          StageContext& ctx) {
  comm::Communicator& comm = ctx.comm;
  // The checkpointer exchanges host values (RNG states, a status): the control communicator.
  Checkpointer checkpointer({opts.checkpoint_dir, opts.keep_last}, ctx.hostComm());
  auto contents = [&] {
    CheckpointContents c = parts.contents();
    c.config_toml = opts.config_toml;
    c.cache_key = opts.cache_key;
    c.global_batch = opts.global_batch;
    return c;
  };

  TrainState state;
  const ResumeChoice choice = checkpointer.resolveResume(opts.resume);
  for (const auto& note : choice.notes) ctx.log.warn(parts.engine.name, ": ", note);
  const std::string& resume = choice.path;
  if (!resume.empty()) {
    const LoadedCheckpoint loaded = checkpointer.load(resume, contents());
    if (loaded.saved_world_size != comm.size()) {
      throw InputError(resume + ": checkpoint was written by " +
                       std::to_string(loaded.saved_world_size) + " ranks, this run has " +
                       std::to_string(comm.size()) +
                       "; resume with the same number of ranks (or checkpoint.resume = \"none\")");
    }
    if (loaded.global_batch > 0 && opts.global_batch > 0 &&
        loaded.global_batch != opts.global_batch) {
      throw InputError(resume + ": checkpoint was trained with a global batch of " +
                       std::to_string(loaded.global_batch) + ", this run uses " +
                       std::to_string(opts.global_batch) +
                       "; resume with the same batch (or checkpoint.resume = \"none\")");
    }
    if (!opts.cache_key.empty() && !loaded.cache_key.empty() &&
        loaded.cache_key != opts.cache_key) {
      throw InputError(resume + ": checkpoint was trained with pseudo-label cache " +
                       loaded.cache_key + ", this run uses " + opts.cache_key);
    }
    if (opts.guards.check_config) opts.guards.check_config(resume, loaded.config_toml);
    if (parts.restore) parts.restore(loaded);
    state.step = loaded.state.step;
    state.epoch = loaded.state.epoch;
    state.batch_in_epoch = loaded.state.batch_in_epoch;
    ctx.log.info(parts.engine.name, ": resumed from ", resume, " at step ", state.step, " (epoch ",
                 state.epoch + 1, ", batch ", state.batch_in_epoch, ")");
  } else if (!opts.init_from.empty()) {
    CheckpointContents c = parts.contents();
    if (c.model == nullptr) throw InputError("--init-from: this stage has no model to initialise");
    checkpointer.loadWeights(opts.init_from, *c.model);
    ctx.log.info(parts.engine.name, ": new run initialised with the weights of ", opts.init_from);
  }

  std::vector<std::unique_ptr<TrainHook>> hooks = std::move(parts.hooks);
  MetricsHookOptions mh;
  mh.log_every = opts.log_every;
  mh.tag = opts.tag;
  mh.label = parts.engine.name;
  hooks.push_back(std::make_unique<MetricsHook>(mh, metrics, ctx.log));
  CheckpointHookOptions ch;
  ch.every_steps = opts.checkpoint_every;
  hooks.push_back(std::make_unique<CheckpointHook>(ch, checkpointer, contents));
  for (auto& h : parts.after_hooks) hooks.push_back(std::move(h));

  Engine engine(parts.engine, parts.step, std::move(hooks), ctx.stop_requested, &comm,
                &ctx.hostComm());
  StageOutcome out;
  out.start_step = state.step;
  const auto t0 = std::chrono::steady_clock::now();
  out.status = engine.run(state);
  out.train_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.state = state;
  return out;
}

StageLoopOptions stageLoopOptions(const std::string& tag, const std::string& checkpoint_dir,
                                  const CheckpointOptions& checkpoint, int64_t log_every,
                                  const std::string& config_toml, const ResumeGuards& guards) {
  StageLoopOptions lo;
  lo.tag = tag;
  lo.checkpoint_dir = checkpoint_dir;
  lo.keep_last = checkpoint.keep_last;
  lo.checkpoint_every = checkpoint.every_steps;
  lo.resume = checkpoint.resume;
  lo.log_every = log_every;
  lo.config_toml = config_toml;
  lo.guards = guards;
  return lo;
}

std::function<CheckpointContents()> modelAndOptimizer(torch::nn::Module& model,
                                                      torch::optim::Optimizer& optimizer) {
  return [&model, &optimizer] {
    CheckpointContents c;
    c.model = &model;
    c.optimizer = &optimizer;
    return c;
  };
}

}  // namespace agreid::trainer
