// agreid sweep SPEC.toml [--dry-run | --submit | --local]; agreid sweep collect DIR
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "base/error.h"
#include "launch/commands.h"
#include "launch/sweep.h"
#include "launch/sweep_results.h"

namespace agreid::launch {
namespace {

namespace fs = std::filesystem;

// The running executable (/proc/self/exe), so that array tasks and local points run the same
// agreid that validated the spec.
std::string selfExecutable() {
  std::error_code ec;
  const fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw InputError("/proc/self/exe: cannot resolve the agreid executable");
  return p.string();
}

// slurm/sweep.sbatch: --script, else ./slurm/sweep.sbatch, else next to the checkout the binary
// was built in (<root>/<build>/launch/agreid).
std::string findScript(const ParsedArgs& args, const std::string& exe) {
  std::error_code ec;
  if (args.has("script")) {
    const std::string s = args.get("script");
    if (!fs::is_regular_file(s, ec)) throw InputError("--script " + s + ": file not found");
    return fs::absolute(s).lexically_normal().string();
  }
  const fs::path candidates[] = {
      fs::current_path() / "slurm/sweep.sbatch",
      fs::path(exe).parent_path().parent_path().parent_path() / "slurm/sweep.sbatch",
  };
  for (const auto& c : candidates)
    if (fs::is_regular_file(c, ec)) return fs::absolute(c).lexically_normal().string();
  throw InputError(
      "slurm/sweep.sbatch not found (run from the agreid checkout or pass --script FILE)");
}

int runCollect(const ParsedArgs& args) {
  if (args.positionals.size() != 2) {
    throw InputError("agreid sweep collect: expected one sweep folder (agreid sweep collect DIR)");
  }
  const SweepResults r = collectSweep(args.positionals[1]);
  std::cout << resultsMarkdown(r);
  int64_t ok = 0;
  for (const auto& row : r.rows) ok += row.status == "ok";
  // Stdout carries only the table; the summary goes to stderr.
  std::cerr << ok << " of " << r.rows.size() << " points have results; sorted by "
            << (r.metric_column.empty() ? r.metric + " (not found in any results.json)"
                                        : r.metric_column + " (" + r.mode + ")")
            << "; table in " << r.dir << "/results.md and results.csv\n";
  return kExitOk;
}

int runSweep(const ParsedArgs& args, CommandContext& ctx) {
  if (!args.positionals.empty() && args.positionals[0] == "collect") return runCollect(args);
  if (args.positionals.size() != 1) {
    throw InputError("agreid sweep: expected one spec file (agreid sweep SPEC.toml --dry-run)");
  }
  const int modes = args.has("dry-run") + args.has("submit") + args.has("local");
  if (modes != 1) {
    throw InputError("agreid sweep: give exactly one of --dry-run, --submit or --local");
  }
  const SweepSpec spec = loadSweepSpec(args.positionals[0], args.get("dir"));
  const std::vector<SweepPoint> points = expandSweep(spec);
  if (args.has("dry-run")) {
    std::cout << describeSweep(spec, points);
    return kExitOk;
  }
  const std::string exe = selfExecutable();
  if (args.has("submit")) {
    SubmitOptions options;
    options.script = findScript(args, exe);
    options.agreid_binary = exe;
    options.sbatch = args.get("sbatch", "sbatch");
    if (!programExists(options.sbatch)) {
      throw InputError("agreid sweep --submit: '" + options.sbatch +
                       "' not found (is this a SLURM login node? --local runs without SLURM)");
    }
    writeSweepFolder(spec, points);
    const std::string job = submitSweep(spec, points, options);
    std::cout << job << "\n";
    // Stdout carries only the job id (job=$(agreid sweep SPEC --submit)).
    std::cerr << "submitted job array " << job << ": " << points.size() << " points, at most "
              << spec.max_parallel << " at once; results: agreid sweep collect " << spec.dir
              << "\n";
    return kExitOk;
  }
  writeSweepFolder(spec, points);
  LocalOptions options;
  options.agreid_binary = exe;
  const int rc = runSweepLocal(spec, points, options, ctx.log);
  if (rc == 0) ctx.log.info("all ", points.size(), " points done; agreid sweep collect ", spec.dir);
  return rc;
}

}  // namespace

CommandSpec sweepCommand() {
  CommandSpec spec;
  spec.name = "sweep";
  spec.max_positionals = 2;
  spec.summary =
      "Hyper-parameter sweep: plan, submit as one SLURM job array, run locally, collect.";
  spec.usage =
      "agreid sweep SPEC.toml (--dry-run | --submit | --local) [--dir DIR]\n"
      "       agreid sweep collect DIR";
  spec.details =
      "SPEC.toml names a base config, a [grid] (cartesian product) and/or [random] draws\n"
      "(uniform, log_uniform, choice); every key is checked against the configuration schema\n"
      "before anything is written (docs/slurm.md).\n"
      "--dry-run prints the numbered points. --submit writes the sweep folder (base.toml,\n"
      "runs.tsv) and submits one array job running slurm/sweep.sbatch; it prints the job id.\n"
      "--local runs the points one after another here, without SLURM.\n"
      "collect DIR gathers every point's results.json into DIR/results.md and results.csv,\n"
      "sorted by the spec's metric, listing failed and missing points.";
  spec.options = {
      {"dry-run", "", "print the numbered table of points; write nothing"},
      {"submit", "", "write the sweep folder and submit one SLURM job array"},
      {"local", "", "write the sweep folder and run the points sequentially here"},
      {"dir", "DIR", "sweep folder (overrides [sweep] dir)"},
      {"script", "FILE", "array job script (default: slurm/sweep.sbatch of the checkout)"},
      {"sbatch", "PROGRAM", "sbatch executable (default: sbatch on PATH)"},
  };
  spec.run = &runSweep;
  return spec;
}

}  // namespace agreid::launch
