package forge.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.bench.BenchSection;
import forge.bench.TrainingBench;
import forge.config.ShippedFiles;
import forge.errors.BadInputException;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import forge.workflow.Stages;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.Consumer;

@Command(name = "training", description = "Training throughput, MFU against this machine's matmul peak, validation "
        + "loss, and the cost of durability: the same pretraining as a bare loop and as a pipeline stage with S3 "
        + "checkpoints. Prints markdown.")
final class BenchTraining implements Callable<Integer> {
    @Option(names = "--config", description = "pipeline spec with stages.pretrain (default: config/shakespeare-char.yaml)")
    Path config;

    @Option(names = "--steps", description = "override train.max_steps (quick trials; the figures then miss the reference)")
    Integer steps;

    @Option(names = "--interval-seconds", defaultValue = "60", description = "checkpoint interval of the first pipeline run (default ${DEFAULT-VALUE})")
    double intervalSeconds;

    @Option(names = "--dense-every", defaultValue = "100", description = "checkpoint interval in steps of the second pipeline run; 0 skips it (default ${DEFAULT-VALUE})")
    int denseEvery;

    @Option(names = "--precision", description = "override train.precision: fp32, bf16 or fp16 (fp16 also turns on "
            + "its loss scaling)")
    String precision;

    @Option(names = "--bare-only", description = "only the bare loop and its DJL-ops-only twin: no pipeline runs, "
            + "no second seed (quick speed checks)")
    boolean bareOnly;

    @Override
    public Integer call() throws IOException {
        WorkerProcess.configureTorchThreads(WorkerSettings.fromEnvironment(System.getenv()).torchThreads());
        for (BenchSection s : run(this, BenchTraining::log)) {
            System.out.println();
            System.out.print(s.markdown());
        }
        return 0;
    }

    static java.util.List<BenchSection> run(BenchTraining o, Consumer<String> progress) throws IOException {
        Path file = o.config != null ? o.config : ShippedFiles.resolve("config", "shakespeare-char.yaml");
        JsonNode spec = withAbsolutePaths(SpecFiles.read(file), file);
        StartCommand.validate(spec, file);
        if (o.steps != null) {
            if (o.steps < 1) {
                throw new BadInputException("--steps must be >= 1, got " + o.steps);
            }
            ((ObjectNode) spec.path("stages").path(Stages.PRETRAIN).path("train")).put("max_steps", o.steps);
        }
        if (o.precision != null) {
            ((ObjectNode) spec.path("stages").path(Stages.PRETRAIN).path("train")).put("precision", o.precision);
            StartCommand.validate(spec, file);
        }
        Path work = Files.createTempDirectory("forge-bench-training");
        try {
            TrainingBench.Result r = TrainingBench.run(new TrainingBench.Settings(spec, o.intervalSeconds, o.denseEvery,
                    work, o.bareOnly), progress);
            return TrainingBench.sections(r);
        } finally {
            forge.bench.CheckpointIoBench.deleteQuietly(work);
        }
    }

    /**
     * Data paths in the shipped specs are relative to the checkout (../shared/data/...); the bench may run from
     * elsewhere and its worker must read the same file, so they are resolved here, first against the working
     * directory and then against FORGE_HOME.
     */
    static JsonNode withAbsolutePaths(JsonNode spec, Path file) {
        JsonNode copy = spec.deepCopy();
        for (JsonNode stage : copy.path("stages")) {
            for (JsonNode source : stage.path("data").path("sources")) {
                String path = source.path("path").asText("");
                if (path.isEmpty() || path.contains(":")) {
                    continue;
                }
                Path p = Path.of(path);
                if (!p.isAbsolute()) {
                    Path resolved = ShippedFiles.resolve(path);
                    if (!Files.exists(resolved)) {
                        throw new BadInputException(file + ": data source " + path + " not found (looked in "
                                + Path.of("").toAbsolutePath() + " and FORGE_HOME); the benchmark corpus is "
                                + "../shared/data/tinyshakespeare.txt next to a checkout");
                    }
                    ((ObjectNode) source).put("path", resolved.toAbsolutePath().normalize().toString());
                }
            }
        }
        return copy;
    }

    static void log(String line) {
        System.err.printf(Locale.ROOT, "[%tT] %s%n", System.currentTimeMillis(), line);
    }
}
