package forge.cli;

import ai.djl.engine.Engine;
import forge.bench.BenchSection;
import forge.bench.CheckpointIoBench;
import forge.bench.FreshThread;
import forge.bench.GenerationBench;
import forge.bench.MachineLoad;
import forge.bench.MemoryBench;
import forge.bench.RestartBench;
import forge.bench.RolloutBench;
import forge.errors.BadInputException;
import forge.worker.WorkerProcess;
import forge.worker.WorkerSettings;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.function.Consumer;

@Command(name = "all", description = "Every benchmark in one run (training and MFU, durability, checkpoint I/O, "
        + "restart after a kill, generation, PPO rollouts, memory over 20,000 steps), as one markdown report for "
        + "BENCHMARKS.md. About 20 minutes on 2 CPU cores.")
final class BenchAll implements Callable<Integer> {
    static final List<String> PARTS = List.of("training", "checkpoint-io", "restart", "generation", "rollout", "memory");

    @Option(names = "--out", description = "also write the report to this file")
    Path out;

    @Option(names = "--skip", split = ",", description = "parts to leave out, of " + "training, checkpoint-io, "
            + "restart, generation, rollout, memory")
    Set<String> skip = Set.of();

    @Option(names = "--training-steps", description = "override the training benchmark's 2000 steps (quick trials)")
    Integer trainingSteps;

    @Option(names = "--memory-steps", defaultValue = "20000", description = "steps of the memory run (default ${DEFAULT-VALUE})")
    long memorySteps;

    @Override
    public Integer call() throws IOException {
        for (String s : skip) {
            if (!PARTS.contains(s)) {
                throw new BadInputException("--skip: unknown part \"" + s + "\"; choose from " + PARTS);
            }
        }
        int threads = WorkerSettings.fromEnvironment(System.getenv()).torchThreads();
        WorkerProcess.configureTorchThreads(threads);
        long t0 = System.nanoTime();
        Consumer<String> progress = line -> System.err.printf(Locale.ROOT, "[%6.1f s] %s%n",
                (System.nanoTime() - t0) / 1e9, line);
        Map<String, List<BenchSection>> sections = new LinkedHashMap<>();
        Map<String, Double> seconds = new LinkedHashMap<>();
        try (MachineLoad load = MachineLoad.start(10_000)) {
            for (String part : PARTS) {
                if (skip.contains(part)) {
                    continue;
                }
                progress.accept("== " + part);
                long p0 = System.nanoTime();
                // Each part on a thread of its own, so that no part's torch thread pool outlives it (FreshThread).
                sections.put(part, FreshThread.call(part, () -> {
                    try {
                        return run(part, progress);
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }));
                seconds.put(part, (System.nanoTime() - p0) / 1e9);
            }
            String report = header(threads, (System.nanoTime() - t0) / 1e9, seconds, load) + body(sections);
            System.out.println();
            System.out.print(report);
            if (out != null) {
                Files.writeString(out, report);
                progress.accept("report written to " + out);
            }
            boolean allMet = sections.values().stream().flatMap(List::stream).flatMap(s -> s.rows().stream())
                    .allMatch(r -> r.met() == null || r.met());
            return allMet ? 0 : Forge.EXIT_FAILED;
        }
    }

    private List<BenchSection> run(String part, Consumer<String> progress) throws IOException {
        return switch (part) {
            case "training" -> {
                BenchTraining t = new BenchTraining();
                t.steps = trainingSteps;
                t.intervalSeconds = 60;
                t.denseEvery = 100;
                yield BenchTraining.run(t, progress);
            }
            case "checkpoint-io" -> List.of(CheckpointIoBench.run(CheckpointIoBench.Settings.defaults(), progress));
            case "restart" -> List.of(RestartBench.run(RestartBench.Settings.defaults(), progress));
            case "generation" -> List.of(GenerationBench.run(List.of(GenerationBench.DEMO, GenerationBench.GPT2_NARROW),
                    new GenerationBench.Settings(16, 256, List.of(1, 8), 1, 16, true), progress).section());
            case "rollout" -> List.of(RolloutBench.run(RolloutBench.Settings.defaults(), progress));
            case "memory" -> List.of(MemoryBench.run(MemoryBench.Settings.ofSteps(memorySteps), progress));
            default -> throw new IllegalArgumentException(part);
        };
    }

    private static String header(int threads, double totalSeconds, Map<String, Double> seconds, MachineLoad load) {
        StringBuilder md = new StringBuilder("## `./forge bench all`: one run\n\n");
        md.append("| | |\n|---|---|\n");
        md.append("| date | ").append(OffsetDateTime.now(ZoneOffset.UTC).format(DateTimeFormatter.ISO_LOCAL_DATE_TIME)
                .substring(0, 16)).append(" UTC |\n");
        md.append("| machine | ").append(cpuModel()).append(", ").append(Runtime.getRuntime().availableProcessors())
                .append(" cores, ").append(memoryGiB()).append(" GiB |\n");
        Engine engine = Engine.getInstance();
        md.append("| engine | ").append(engine.getEngineName()).append(' ').append(engine.getVersion())
                .append(", GPUs: ").append(engine.getGpuCount()).append(", torch threads: ")
                .append(threads > 0 ? Integer.toString(threads) : "engine default").append(", Java ")
                .append(System.getProperty("java.version")).append(" |\n");
        md.append(String.format(Locale.ROOT, "| wall | %.1f min (%s) |%n", totalSeconds / 60,
                String.join(", ", seconds.entrySet().stream().map(e -> String.format(Locale.ROOT, "%s %.0f s",
                        e.getKey(), e.getValue())).toList())));
        if (load != null) {
            md.append(String.format(Locale.ROOT, "| other processes | %.2f cores on average, %.2f in the worst 10 s "
                    + "(the restart benchmark's worker JVMs count here) |%n", load.meanOtherCores(),
                    load.worstOtherCores()));
        }
        return md.append('\n').toString();
    }

    private static String body(Map<String, List<BenchSection>> sections) {
        StringBuilder md = new StringBuilder();
        sections.values().stream().flatMap(List::stream).forEach(s -> md.append(s.markdown()).append('\n'));
        return md.toString();
    }

    private static String cpuModel() {
        try {
            return Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name"))
                    .findFirst().map(l -> l.substring(l.indexOf(':') + 1).strip()).orElse("unknown CPU");
        } catch (IOException e) {
            return "unknown CPU";
        }
    }

    private static String memoryGiB() {
        try {
            return Files.readAllLines(Path.of("/proc/meminfo")).stream().filter(l -> l.startsWith("MemTotal"))
                    .findFirst().map(l -> String.format(Locale.ROOT, "%.0f",
                            Long.parseLong(l.replaceAll("\\D", "")) / 1048576.0)).orElse("?");
        } catch (IOException e) {
            return "?";
        }
    }
}
