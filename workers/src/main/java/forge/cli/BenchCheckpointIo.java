package forge.cli;

import forge.bench.BenchSection;
import forge.bench.CheckpointIoBench;
import forge.bench.CheckpointResumeBench;
import forge.errors.BadInputException;
import forge.tensor.ShardedSafetensors;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

/** {@code forge bench checkpoint-io}: see {@link CheckpointIoBench}. */
@Command(name = "checkpoint-io", description = "Checkpoint write and read throughput through the embedded S3 "
        + "against the local disk under it, serialization and loading included. Prints a markdown table.")
final class BenchCheckpointIo implements Callable<Integer> {
    @Option(names = "--mb", description = "checkpoint size in MiB (weights + AdamW moments); default: the "
            + "gpt2-6x384 model's, about 346 MiB")
    Integer mb;

    @Option(names = "--rounds", defaultValue = "3",
            description = "measured rounds, median reported (default ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--dir", description = "folder for the embedded S3 objects and the disk probe (default: a temp "
            + "folder, deleted afterwards)")
    Path dir;

    @Option(names = "--params", description = "parameter counts, e.g. 125M,350M,700M: each is checkpointed as "
            + "streamed shards from engine arrays by a child JVM, a second writer is killed mid-upload and a third "
            + "resumes bit-exactly; prints commit/load time, throughput and peak RSS, and fails if peak RSS minus the "
            + "state passes the stated bound")
    String params;

    @Option(names = "--shard-size-mb", defaultValue = "2000",
            description = "shard size with --params (MB = 10^6 bytes; default ${DEFAULT-VALUE})")
    long shardSizeMb;

    @Override
    public Integer call() {
        if (params != null) {
            return resumeBench();
        }
        CheckpointIoBench.Settings settings;
        try {
            settings = mb == null
                    ? new CheckpointIoBench.Settings(CheckpointIoBench.Settings.defaults().model(), rounds, dir, 1)
                    : CheckpointIoBench.Settings.ofSize(mb, rounds, dir);
        } catch (BadInputException e) {
            throw new BadInputException(e.getMessage().replace("bench.mb", "--mb")
                    .replace("bench.rounds", "--rounds"), e);
        }
        WorkerProcess.configureTorchThreads(WorkerSettings.fromEnvironment(System.getenv()).torchThreads());
        long t0 = System.nanoTime();
        BenchSection section = CheckpointIoBench.run(settings, line ->
                System.err.printf(Locale.ROOT, "[%6.1f s] %s%n", (System.nanoTime() - t0) / 1e9, line));
        System.out.println();
        System.out.print(section.markdown());
        return 0;
    }

    private int resumeBench() {
        CheckpointResumeBench.Settings defaults = CheckpointResumeBench.Settings.of(
                CheckpointResumeBench.parseParams(params), dir);
        CheckpointResumeBench.Settings settings = new CheckpointResumeBench.Settings(defaults.params(),
                defaults.tensorParams(), shardSizeMb * ShardedSafetensors.MB, defaults.childHeap(), dir,
                defaults.seed());
        long t0 = System.nanoTime();
        CheckpointResumeBench.Result result = CheckpointResumeBench.run(settings, line ->
                System.err.printf(Locale.ROOT, "[%6.1f s] %s%n", (System.nanoTime() - t0) / 1e9, line));
        System.out.println();
        System.out.print(result.markdown());
        return result.held() ? 0 : 1;
    }
}
