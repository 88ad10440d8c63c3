package forge.cli;

import forge.bench.BenchSection;
import forge.bench.MemoryBench;
import forge.errors.BadInputException;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.util.Locale;
import java.util.concurrent.Callable;

@Command(name = "memory", description = "Resident memory, heap, threads, open files and live arrays over a long "
        + "pretrain run (real training loop and background checkpoints to an embedded S3), and the slope of resident "
        + "memory after warm-up. Prints a markdown section.")
final class BenchMemory implements Callable<Integer> {
    @Option(names = "--steps", defaultValue = "20000", description = "training steps (default ${DEFAULT-VALUE})")
    long steps;

    @Override
    public Integer call() {
        MemoryBench.Settings settings;
        try {
            settings = MemoryBench.Settings.ofSteps(steps);
        } catch (BadInputException e) {
            throw new BadInputException(e.getMessage().replace("bench.steps", "--steps"), e);
        }
        WorkerProcess.configureTorchThreads(WorkerSettings.fromEnvironment(System.getenv()).torchThreads());
        long t0 = System.nanoTime();
        BenchSection section = MemoryBench.run(settings, line ->
                System.err.printf(Locale.ROOT, "[%6.1f s] %s%n", (System.nanoTime() - t0) / 1e9, line));
        System.out.println();
        System.out.print(section.markdown());
        return section.rows().stream().allMatch(r -> r.met() == null || r.met()) ? 0 : Forge.EXIT_FAILED;
    }
}
